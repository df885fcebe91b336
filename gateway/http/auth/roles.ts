// Roles of the admin API, ordered: each one may do everything the one before it may.
import type { FastifyRequest } from 'fastify';

/** Closed set: switches over it end in `satisfies never`. */
export const Role = { viewer: 'viewer', operator: 'operator', admin: 'admin' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export const ROLES: readonly Role[] = [Role.viewer, Role.operator, Role.admin];

function rank(role: Role): number {
  switch (role) {
    case 'viewer':
      return 0;
    case 'operator':
      return 1;
    case 'admin':
      return 2;
    default:
      return role satisfies never;
  }
}

export function roleAtLeast(have: Role, need: Role): boolean {
  return rank(have) >= rank(need);
}

export function isRole(text: unknown): text is Role {
  return typeof text === 'string' && (ROLES as readonly string[]).includes(text);
}

/** How a request proved who it is. Closed set. */
export const Via = { session: 'session', userToken: 'user-token', adminToken: 'admin-token', metricsToken: 'metrics-token' } as const;
export type Via = (typeof Via)[keyof typeof Via];

export interface Principal {
  /** User name; 'admin' for GW_ADMIN_TOKEN, 'metrics' for the metrics token. */
  name: string;
  role: Role;
  via: Via;
  /** Session id (only with via 'session'), to log out. */
  sessionId?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Minimum role of an admin route (gateway/http/auth/index.ts); absent = 'admin'. */
    minRole?: Role;
    /** Public ops route (/healthz, /readyz, /metrics, /v1/status) that config may protect. */
    protectedBy?: 'health' | 'metrics' | 'status';
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The audit trail's actor for a request: `user:<name>`, `token:<name>`, `admin`, `metrics`. */
export function actorFor(principal: Principal | undefined): string {
  if (!principal) return 'anonymous';
  switch (principal.via) {
    case 'session':
      return `user:${principal.name}`;
    case 'user-token':
      return `token:${principal.name}`;
    case 'admin-token':
      return 'admin';
    case 'metrics-token':
      return 'metrics';
    default:
      return principal.via satisfies never;
  }
}

export type { FastifyRequest };
