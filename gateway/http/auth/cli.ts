// `gw user add|list|remove|token` (accounts in a STOPPED gateway's buffer: LevelDB admits one process, so
// while the gateway runs, an admin uses POST /v1/users instead) and `gw kiosk token <id>`.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AuditTrail } from '../../audit/trail.ts';
import { LevelDbBuffer } from '../../buffer/leveldb-buffer.ts';
import { DEVELOPMENT_BUFFER_KEY, parseBufferKey } from '../../buffer/seal.ts';
import { loadConfig } from '../../config.ts';
import { errorMessage, GatewayError } from '../../errors.ts';
import { createLogger } from '../../logger.ts';
import { isRole, ROLES } from './roles.ts';
import { newToken, sha256Hex, UserStore } from './users.ts';

export interface CliIo {
  out(s: string): void;
  err(s: string): void;
  stdin(): Promise<string>;
  env: Readonly<Record<string, string | undefined>>;
}

export const USER_USAGE = `  gw user add <name> --role viewer|operator|admin   password on stdin (gateway stopped; GW_BUFFER_KEY as for start)
  gw user list | gw user remove <name> | gw user token <name>   (token: prints a new API token once)
  gw kiosk token <id>               print a new kiosk intake token and the kiosk.tokens entry (its SHA-256) for the config`;

export async function userCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { role: { type: 'string' }, 'data-dir': { type: 'string' } } });
  const name = positionals[0];
  if (sub !== 'list' && (sub === undefined || !['add', 'remove', 'token'].includes(sub) || name === undefined)) {
    io.err(`gw user: usage:\n${USER_USAGE}\n`);
    return 2;
  }
  if (sub === 'add' && !isRole(values.role)) {
    io.err(`gw user add: --role must be one of ${ROLES.join(', ')}\n`);
    return 2;
  }
  let password = '';
  if (sub === 'add') {
    password = (await io.stdin()).replace(/\r?\n$/, '');
    if (password.length === 0) {
      io.err('gw user add: give the password on stdin, e.g. `printf %s "$PW" | gw user add ops --role operator`\n');
      return 2;
    }
  }
  let dataDir = values['data-dir'];
  let configUsers: Array<{ name: string; role: 'viewer' | 'operator' | 'admin'; passwordHash: string }> = [];
  let destinations: string[] = [];
  try {
    const { config } = loadConfig(io.env);
    dataDir ??= config.dataDir;
    configUsers = config.admin.users;
    destinations = config.destinations.map((d) => d.id);
  } catch (e) {
    io.err(`gw user: ${(e as Error).message}\n`);
    return 78; // EX_CONFIG
  }
  const dir = join(resolve(dataDir), 'buffer');
  if (sub !== 'add' && !existsSync(dir)) {
    io.err(`gw user: GW_ERR_NOT_FOUND: no gateway buffer at ${dir}\n`);
    return 2;
  }
  if (!io.env.GW_BUFFER_KEY) io.err('gw user: GW_BUFFER_KEY is not set; using the public development key\n');
  let buffer: LevelDbBuffer | undefined;
  let audit: AuditTrail | undefined;
  try {
    const key = io.env.GW_BUFFER_KEY ? parseBufferKey(io.env.GW_BUFFER_KEY) : DEVELOPMENT_BUFFER_KEY;
    buffer = new LevelDbBuffer(
      { dir, key, destinations, quotaBytes: Number.MAX_SAFE_INTEGER, highWaterRatio: 1, retentionMs: Number.MAX_SAFE_INTEGER },
      createLogger('error'),
    );
    try {
      await buffer.open();
    } catch (e) {
      if (isLockError(e)) {
        buffer = undefined;
        io.err(`gw user: GW_ERR_USER_STORE_LOCKED: ${errorMessage('GW_ERR_USER_STORE_LOCKED', dir, 'stop it first, or, as an admin, use the API: POST /v1/users {"name","role","password"}, DELETE /v1/users/<name>, POST /v1/users/<name>/tokens')}\n`);
        return 75; // EX_TEMPFAIL
      }
      throw e;
    }
    audit = await AuditTrail.open(buffer.state, createLogger('error'));
    const users = await UserStore.open(buffer.state, configUsers);
    switch (sub) {
      case 'list':
        for (const u of users.list()) io.out(`${u.name}\t${u.role}\t${u.source}${u.disabled ? '\tdisabled' : ''}\ttokens: ${u.tokens.length}\n`);
        return 0;
      case 'add': {
        const added = await users.add(name!, values.role as 'viewer', password);
        if (!added.ok) return fail(io, added.issues[0]!.code, added.issues[0]!.message);
        audit.record({ kind: 'user-added', actor: 'cli', subject: { user: added.value.name }, detail: { role: added.value.role } });
        io.out(`user ${added.value.name} added with role ${added.value.role}\n`);
        return 0;
      }
      case 'remove': {
        const removed = await users.remove(name!);
        if (!removed.ok) return fail(io, removed.issues[0]!.code, removed.issues[0]!.message);
        audit.record({ kind: 'user-removed', actor: 'cli', subject: { user: removed.value.name }, detail: { role: removed.value.role } });
        io.out(`user ${removed.value.name} removed\n`);
        return 0;
      }
      case 'token': {
        const issued = await users.issueToken(name!);
        if (!issued.ok) return fail(io, issued.issues[0]!.code, issued.issues[0]!.message);
        audit.record({ kind: 'token-issued', actor: 'cli', subject: { user: name! }, detail: { tokenId: issued.value.id } });
        io.err(`API token ${issued.value.id} for ${name}: shown once, only its SHA-256 is kept. Use: Authorization: Bearer <token>\n`);
        io.out(`${issued.value.token}\n`);
        return 0;
      }
      default:
        return 2;
    }
  } catch (e) {
    const code = e instanceof GatewayError ? e.code : 'GW_ERR_BUFFER_IO';
    io.err(`gw user: ${code}: ${(e as Error).message}\n`);
    return 2;
  } finally {
    await audit?.close();
    await buffer?.close();
  }
}

export function kioskCommand(args: string[], io: CliIo): number {
  const [sub, id] = args;
  if (sub !== 'token' || id === undefined || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
    io.err('gw kiosk: usage: gw kiosk token <id>   (id: letters, digits, dot, dash or underscore)\n');
    return 2;
  }
  const token = newToken('gwk');
  io.err(`kiosk token for "${id}": give the token to the kiosk (Authorization: Bearer <token>) and put the entry under kiosk.tokens; the token is not stored anywhere\n`);
  io.out(`token: ${token}\nconfig: { id: ${id}, tokenHash: ${sha256Hex(token)} }\n`);
  return 0;
}

function fail(io: CliIo, code: string, message: string): number {
  io.err(`gw user: ${code}: ${message}\n`);
  return code === 'GW_ERR_NOT_FOUND' ? 2 : 1;
}

/** classic-level: another process holds the LOCK file (LEVEL_LOCKED, or LEVEL_DATABASE_NOT_OPEN caused by it). */
function isLockError(e: unknown): boolean {
  for (let x = e as { code?: string; message?: string; cause?: unknown } | undefined; x; x = x.cause as typeof x) {
    if (x.code === 'LEVEL_LOCKED' || /lock/i.test(x.message ?? '')) return true;
  }
  return false;
}
