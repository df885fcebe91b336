// The local status page (issue #8 item 2): three static files read once at start, no build step, and the
// two data routes it needs beyond the admin API (devices seen, recent audit events).
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { AuditRecord } from '../../audit/types.ts';
import type { DeviceRegistry } from '../../devices.ts';

const read = (name: string): string => readFileSync(new URL(name, import.meta.url), 'utf8');

/** The page loads only its own script and style and talks only to this origin. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

/** Public: the page itself holds no data; every number on it comes from authenticated API calls. */
export async function statusPageRoutes(app: FastifyInstance): Promise<void> {
  const files = {
    '/': { type: 'text/html; charset=utf-8', body: read('./page.html') },
    '/ui/status.js': { type: 'text/javascript; charset=utf-8', body: read('./status.js') },
    '/ui/status.css': { type: 'text/css; charset=utf-8', body: read('./status.css') },
  };
  for (const [path, file] of Object.entries(files)) {
    app.get(path, async (_request, reply) => reply.headers(SECURITY_HEADERS).type(file.type).send(file.body));
  }
}

export interface StatusDataDeps {
  devices: DeviceRegistry;
  /** Running drivers' status(); a driver that knows its devices lists them as `devices: [{ deviceId, battery? }]`. */
  driverStatus?: () => Record<string, Record<string, unknown>>;
  audit?: { recent(limit: number): Promise<AuditRecord[]> };
}

/** Registered inside the admin scope, so its authentication applies; both routes are read-only. */
export function statusDataRoutes(deps: StatusDataDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/devices', { config: { minRole: 'viewer' } }, async () => {
      // Battery levels come from the drivers that read them (BLE Battery Level 0x2A19) at request time.
      for (const status of Object.values(deps.driverStatus?.() ?? {})) {
        const listed = Array.isArray(status.devices) ? (status.devices as Array<Record<string, unknown>>) : [];
        for (const d of listed) if (typeof d.deviceId === 'string' && typeof d.battery === 'number') deps.devices.battery(d.deviceId, d.battery);
      }
      return { devices: deps.devices.list() };
    });
    app.get<{ Querystring: { limit?: string } }>('/audit', { config: { minRole: 'viewer' } }, async (request) => {
      const limit = Math.min(200, Math.max(1, Number.parseInt(request.query.limit ?? '50', 10) || 50));
      return { events: deps.audit ? (await deps.audit.recent(limit)).reverse() : [] };
    });
  };
}
