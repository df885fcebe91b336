// Kiosk visits: while a visit is open on a kiosk, its readings carry the visit's patient and encounter.
// Visits live in the buffer's sealed state store (`visit/<id>`), so an open visit survives a restart.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { issue } from '../../gateway/errors.ts';
import type { ObservationBuffer } from '../../gateway/buffer/types.ts';
import type { Issue, PatientIdentity, Reading, Result } from '../../gateway/types.ts';

export const VisitStatus = {
  open: 'open',
  closed: 'closed',
} as const;
export type VisitStatus = (typeof VisitStatus)[keyof typeof VisitStatus];

export interface Visit {
  id: string;
  encounterId: string;
  /** The kiosk's deviceId: its readings take this visit's patient and encounter while it is open. */
  deviceId: string;
  patient: PatientIdentity;
  status: VisitStatus;
  openedAt: string;
  closedAt?: string;
}

const VISIT_KEY_PREFIX = 'visit/';

export const openVisitSchema = z
  .object({
    encounterId: z.string().min(1).max(64),
    deviceId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - (1–128)'),
    patient: z.object({ mrn: z.string().min(1).max(64), system: z.string().min(1).max(256).optional() }).strict(),
  })
  .strict();

const storedVisitSchema = z.object({
  id: z.string(),
  encounterId: z.string(),
  deviceId: z.string(),
  patient: z.object({ mrn: z.string(), system: z.string().optional() }),
  status: z.enum([VisitStatus.open, VisitStatus.closed]),
  openedAt: z.string(),
  closedAt: z.string().optional(),
});

/** zod issues → gateway Issues with a JSON path (the same shape the kiosk reading contract uses). */
export function zodIssues(error: z.ZodError, code: 'GW_ERR_INVALID_VISIT'): Issue[] {
  return error.issues.map((i) => {
    const path = i.path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
    const message = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : i.message;
    return issue(code, path || undefined, path ? `${path}: ${message}` : message);
  });
}

export type VisitEvent = { kind: 'closed'; visit: Visit };

export class VisitStore {
  readonly #state: ObservationBuffer['state'];
  readonly #byId = new Map<string, Visit>();
  /** Open visit per kiosk deviceId. */
  readonly #openByDevice = new Map<string, Visit>();
  readonly #listeners = new Set<(event: VisitEvent) => void>();

  constructor(state: ObservationBuffer['state']) {
    this.#state = state;
  }

  /** Read every stored visit back (start-up). Closed visits stay readable by id. */
  async load(): Promise<void> {
    for (const [, value] of await this.#state.entries(VISIT_KEY_PREFIX)) {
      const parsed = storedVisitSchema.safeParse(value);
      if (!parsed.success) throw new Error(`stored visit record is corrupt: ${parsed.error.message}`); // a bug, not input
      const visit = parsed.data as Visit;
      this.#byId.set(visit.id, visit);
      if (visit.status === VisitStatus.open) this.#openByDevice.set(visit.deviceId, visit);
    }
  }

  get(id: string): Visit | undefined {
    return this.#byId.get(id);
  }

  openFor(deviceId: string): Visit | undefined {
    return this.#openByDevice.get(deviceId);
  }

  onEvent(listener: (event: VisitEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Open a visit; one open visit per kiosk, and an encounter is open on one kiosk at most. */
  async open(input: z.infer<typeof openVisitSchema>, now = new Date()): Promise<Result<Visit>> {
    const current = this.#openByDevice.get(input.deviceId);
    if (current) return { ok: false, issues: [issue('GW_ERR_VISIT_CONFLICT', 'deviceId', input.deviceId, current.id)] };
    for (const v of this.#openByDevice.values()) {
      if (v.encounterId === input.encounterId) return { ok: false, issues: [issue('GW_ERR_VISIT_CONFLICT', 'encounterId', v.deviceId, v.id)] };
    }
    const visit: Visit = {
      id: randomUUID(),
      encounterId: input.encounterId,
      deviceId: input.deviceId,
      patient: input.patient.system === undefined ? { mrn: input.patient.mrn } : { mrn: input.patient.mrn, system: input.patient.system },
      status: VisitStatus.open,
      openedAt: now.toISOString(),
    };
    // Reserve before the await so two concurrent opens for one kiosk cannot both win.
    this.#openByDevice.set(visit.deviceId, visit);
    try {
      await this.#state.put(VISIT_KEY_PREFIX + visit.id, visit);
    } catch (err) {
      this.#openByDevice.delete(visit.deviceId);
      throw err;
    }
    this.#byId.set(visit.id, visit);
    return { ok: true, value: visit };
  }

  /** Close a visit (idempotent); undefined when there is no such visit. */
  async close(id: string, now = new Date()): Promise<Visit | undefined> {
    const visit = this.#byId.get(id);
    if (!visit || visit.status === VisitStatus.closed) return visit;
    const closed: Visit = { ...visit, status: VisitStatus.closed, closedAt: now.toISOString() };
    await this.#state.put(VISIT_KEY_PREFIX + id, closed);
    this.#byId.set(id, closed);
    if (this.#openByDevice.get(visit.deviceId)?.id === id) this.#openByDevice.delete(visit.deviceId);
    for (const listener of this.#listeners) listener({ kind: 'closed', visit: closed });
    return closed;
  }

  /**
   * Give a kiosk reading the open visit's patient and encounter. A reading that names another
   * encounter or another patient than the open visit is refused: it would file vitals in the wrong chart.
   */
  applyTo(reading: Reading): Result<Reading> {
    const visit = this.#openByDevice.get(reading.deviceId);
    if (!visit) return { ok: true, value: reading };
    const named = reading.context?.encounterId;
    if (named !== undefined && named !== visit.encounterId) {
      return {
        ok: false,
        issues: [issue('GW_ERR_VISIT_MISMATCH', 'encounterId', `the reading names encounter "${named}" but kiosk ${visit.deviceId} has open visit ${visit.id} for encounter "${visit.encounterId}"`)],
      };
    }
    if (reading.patient !== undefined && (reading.patient.mrn !== visit.patient.mrn || (reading.patient.system ?? visit.patient.system) !== visit.patient.system)) {
      // No MRNs in the message: it is logged.
      return {
        ok: false,
        issues: [issue('GW_ERR_VISIT_MISMATCH', 'patient', `the reading names another patient than open visit ${visit.id} on kiosk ${visit.deviceId}`)],
      };
    }
    return {
      ok: true,
      value: { ...reading, patient: visit.patient, context: { ...reading.context, encounterId: visit.encounterId } },
    };
  }
}
