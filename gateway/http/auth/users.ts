// Local accounts of the admin API: `user/<name>` → UserRecord in the buffer's sealed state store, plus
// read-only accounts from config (`admin.users`). Passwords as scrypt hashes (`gw hash-password` format),
// API tokens as SHA-256 only (they are 256-bit random, so a slow hash adds nothing).
import { createHash, randomBytes } from 'node:crypto';
import { burnPasswordCheck, hashPassword, parsePasswordHash, verifyPassword } from '../../../device-drivers/mqtt/password.ts';
import { issue } from '../../errors.ts';
import type { Result } from '../../types.ts';
import { isRole, type Role } from './roles.ts';

export interface UserToken {
  id: string;
  /** SHA-256 (hex) of the token; the token itself is shown once and never stored. */
  sha256: string;
  createdAt: string;
}

export interface UserRecord {
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: string;
  disabled?: boolean;
  tokens?: UserToken[];
  /** 'config' for `admin.users` entries (read-only through the API). */
  source?: 'config';
}

export interface PublicUser {
  name: string;
  role: Role;
  createdAt: string;
  disabled: boolean;
  tokens: Array<{ id: string; createdAt: string }>;
  source: 'store' | 'config';
}

export interface ConfigUser {
  name: string;
  role: Role;
  passwordHash: string;
}

/** The state store's part the accounts need (ObservationBuffer['state']). */
export interface StateStore {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  entries(prefix: string): Promise<Array<[string, unknown]>>;
}

export const USER_PREFIX = 'user/';
export const USER_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** NIST SP 800-63B §5.1.1.2: memorized secrets at least 8 characters; we cap at 1024 to bound scrypt input. */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
/** 256-bit random token, base64url, with a prefix saying what it opens (secret scanners know prefixes). */
export const newToken = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`;

export function validatePassword(password: string): Result<string> {
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    return { ok: false, issues: [issue('GW_ERR_INVALID_USER', 'password', `a password must have ${PASSWORD_MIN}–${PASSWORD_MAX} characters`)] };
  }
  return { ok: true, value: password };
}

export class UserStore {
  readonly #state: StateStore;
  readonly #users = new Map<string, UserRecord>();
  /** token SHA-256 → user name */
  readonly #tokens = new Map<string, string>();

  private constructor(state: StateStore) {
    this.#state = state;
  }

  /** Loads every account once (a handful); later changes write through. */
  static async open(state: StateStore, configUsers: readonly ConfigUser[] = []): Promise<UserStore> {
    const store = new UserStore(state);
    for (const [, value] of await state.entries(USER_PREFIX)) {
      const user = value as UserRecord;
      if (user && typeof user.name === 'string' && isRole(user.role)) store.#index(user);
    }
    for (const u of configUsers) store.#index({ ...u, createdAt: new Date(0).toISOString(), source: 'config' }); // config wins over a stored namesake
    return store;
  }

  #index(user: UserRecord): void {
    const old = this.#users.get(user.name);
    for (const t of old?.tokens ?? []) this.#tokens.delete(t.sha256);
    this.#users.set(user.name, user);
    for (const t of user.tokens ?? []) this.#tokens.set(t.sha256, user.name);
  }

  list(): PublicUser[] {
    return [...this.#users.values()].sort((a, b) => a.name.localeCompare(b.name)).map(publicUser);
  }

  get(name: string): UserRecord | undefined {
    return this.#users.get(name);
  }

  /** True when some enabled account can administer the gateway. */
  hasAdmin(): boolean {
    return [...this.#users.values()].some((u) => u.role === 'admin' && !u.disabled);
  }

  async add(name: string, role: Role, password: string): Promise<Result<PublicUser>> {
    if (!USER_NAME.test(name)) return { ok: false, issues: [issue('GW_ERR_INVALID_USER', 'name', 'a user name has 1–64 letters, digits, dot, dash or underscore')] };
    const pw = validatePassword(password);
    if (!pw.ok) return pw;
    if (this.#users.has(name)) return { ok: false, issues: [issue('GW_ERR_USER_EXISTS', 'name', name)] };
    const user: UserRecord = { name, role, passwordHash: await hashPassword(password), createdAt: new Date().toISOString(), tokens: [] };
    await this.#state.put(USER_PREFIX + name, user);
    this.#index(user);
    return { ok: true, value: publicUser(user) };
  }

  async remove(name: string): Promise<Result<PublicUser>> {
    const user = this.#users.get(name);
    if (!user) return { ok: false, issues: [issue('GW_ERR_NOT_FOUND', 'name', `user "${name}"`)] };
    if (user.source === 'config') return { ok: false, issues: [issue('GW_ERR_INVALID_USER', 'name', `user "${name}" comes from the config file (admin.users); remove it there`)] };
    await this.#state.del(USER_PREFIX + name);
    for (const t of user.tokens ?? []) this.#tokens.delete(t.sha256);
    this.#users.delete(name);
    return { ok: true, value: publicUser(user) };
  }

  /** A new API token for the user: returned once, only its SHA-256 is kept. */
  async issueToken(name: string): Promise<Result<{ id: string; token: string }>> {
    const user = this.#users.get(name);
    if (!user) return { ok: false, issues: [issue('GW_ERR_NOT_FOUND', 'name', `user "${name}"`)] };
    if (user.source === 'config') return { ok: false, issues: [issue('GW_ERR_INVALID_USER', 'name', `user "${name}" comes from the config file and cannot hold API tokens`)] };
    const token = newToken('gwu');
    const entry: UserToken = { id: randomBytes(6).toString('hex'), sha256: sha256Hex(token), createdAt: new Date().toISOString() };
    const updated: UserRecord = { ...user, tokens: [...(user.tokens ?? []), entry] };
    await this.#state.put(USER_PREFIX + name, updated);
    this.#index(updated);
    return { ok: true, value: { id: entry.id, token } };
  }

  /** The enabled user a password opens, or undefined; unknown names cost the same scrypt work as known ones. */
  async checkPassword(name: string, password: string): Promise<UserRecord | undefined> {
    const user = this.#users.get(name);
    const parsed = user ? parsePasswordHash(user.passwordHash) : undefined;
    if (!user || !parsed?.ok || password.length > PASSWORD_MAX) {
      await burnPasswordCheck(password.slice(0, PASSWORD_MAX));
      return undefined;
    }
    const ok = await verifyPassword(password, parsed.value);
    return ok && !user.disabled ? user : undefined;
  }

  /** The enabled user an API token belongs to (lookup by SHA-256: no timing leak on the token). */
  byToken(token: string): UserRecord | undefined {
    const name = this.#tokens.get(sha256Hex(token));
    const user = name === undefined ? undefined : this.#users.get(name);
    return user && !user.disabled ? user : undefined;
  }
}

function publicUser(u: UserRecord): PublicUser {
  return {
    name: u.name,
    role: u.role,
    createdAt: u.createdAt,
    disabled: u.disabled === true,
    tokens: (u.tokens ?? []).map((t) => ({ id: t.id, createdAt: t.createdAt })),
    source: u.source === 'config' ? 'config' : 'store',
  };
}
