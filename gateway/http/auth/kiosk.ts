// Kiosk intake tokens (`kiosk.tokens[]`: id + SHA-256 hex of a 256-bit random token from `gw kiosk token`).
// With none configured, intake takes requests from loopback only (the development default).
// GET /v1/visits/:id/live also opens to a viewer of the admin API (a browser's EventSource sends the cookie).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { AccessControl } from './access.ts';
import { refuse } from './hook.ts';

export interface KioskToken {
  id: string;
  tokenHash: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The kiosk token id that authenticated an intake request (the audit trail's actor). */
    kioskTokenId?: string;
  }
}

/** RFC 1122 §3.2.1.3 127.0.0.0/8 and RFC 4291 §2.5.3 ::1, also as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

export function kioskIntakeHook(tokens: readonly KioskToken[], access: AccessControl): onRequestAsyncHookHandler {
  const known = tokens.map((t) => ({ id: t.id, hash: Buffer.from(t.tokenHash, 'hex') }));
  return async (request, reply) => {
    const header = request.headers.authorization;
    const bearer = header === undefined ? undefined : /^bearer +(\S+)\s*$/i.exec(header)?.[1];
    if (bearer !== undefined && known.length > 0) {
      const digest = createHash('sha256').update(bearer).digest();
      // compare against every token, so the time taken does not say which one nearly matched
      let match: string | undefined;
      for (const t of known) if (timingSafeEqual(t.hash, digest)) match = t.id;
      if (match !== undefined) {
        request.kioskTokenId = match;
        return;
      }
    }
    // the clinician's browser watching live vitals: a session or an API token of the admin API (viewer)
    if (request.method === 'GET' && request.routeOptions.url === '/v1/visits/:id/live' && (header !== undefined || request.headers.cookie !== undefined)) {
      const viewer = access.authorize(request, 'viewer');
      if (viewer.ok) {
        request.principal = viewer.principal;
        return;
      }
    }
    if (known.length === 0 && isLoopback(request.socket.remoteAddress)) return;
    const detail = known.length === 0
      ? 'takes requests from loopback only while no kiosk token is configured (kiosk.tokens; `gw kiosk token <id>`)'
      : bearer === undefined ? 'needs Authorization: Bearer <kiosk token>' : 'does not know this kiosk token';
    return refuse(access, request, reply, 'kiosk', 'GW_ERR_KIOSK_UNAUTHORIZED', `kiosk intake ${detail}`);
  };
}
