// The pure GATT decoders' API for the BLE central: bytes of one notification/indication → Readings.
// No I/O; the session below is stateful only to pair a glucose record with its context.
import { issue } from '../../../gateway/errors.ts';
import type { Issue, Reading, Result } from '../../../gateway/types.ts';
import { decodeBloodPressureMeasurement, decodeIntermediateCuffPressureAsReadings } from './blood-pressure.ts';
import type { DecodeNote, Decoded, GattDecodeContext } from './frame.ts';
import { NoteKind } from './frame.ts';
import { decodeGlucoseContext, decodeGlucoseMeasurement, decodeGlucoseRecord } from './glucose.ts';
import { decodeHeartRateMeasurement } from './heart-rate.ts';
import { decodePlxContinuous, decodePlxSpotCheck } from './plx.ts';
import { decodeTemperatureMeasurement } from './temperature.ts';
import { CHARACTERISTIC, normalizeUuid, parseUuid } from './uuids.ts';
import { decodeBodyCompositionMeasurement, decodeWeightMeasurement } from './weight.ts';

export type { DecodeNote, Decoded, GattDecodeContext } from './frame.ts';
export { NoteKind } from './frame.ts';
export { CHARACTERISTIC, HEALTH_SERVICES, SERVICE, normalizeUuid, parseUuid } from './uuids.ts';
export { decodeFloat, decodeSfloat, encodeFloat, encodeSfloat } from './ieee11073.ts';
export { encodeCurrentTime, AdjustReason } from './current-time.ts';
export { decodeRacpResponse, encodeRacpCountSince, encodeRacpReportAll, encodeRacpReportSince, RACP_RESPONSE_CODES, type RacpResponse } from './racp.ts';
export { decodeBloodPressureMeasurement, decodeIntermediateCuffPressure, type IntermediateCuffPressure } from './blood-pressure.ts';
export { decodeHeartRateMeasurement } from './heart-rate.ts';
export { decodeTemperatureMeasurement } from './temperature.ts';
export { decodeBodyCompositionMeasurement, decodeWeightMeasurement } from './weight.ts';
export { decodePlxContinuous, decodePlxSpotCheck } from './plx.ts';
export { decodeGlucoseContext, decodeGlucoseMeasurement, decodeGlucoseRecord } from './glucose.ts';

type Decoder = (bytes: Uint8Array, ctx: GattDecodeContext) => Result<Decoded>;

/** The context alone carries no measurement: decoded (so a corrupt one is reported), kept as notes. */
const glucoseContextAlone: Decoder = (bytes) => {
  const c = decodeGlucoseContext(bytes);
  if (!c.ok) return c;
  return { ok: true, value: { readings: [], notes: [...c.value.notes, { kind: NoteKind.ignored, characteristic: 'Glucose Measurement Context', field: 'sequenceNumber', detail: `context of record ${c.value.sequence} outside a session: nothing to pair it with` }] } };
};

/** Every characteristic the gateway decodes, by canonical UUID. */
export const DECODERS: ReadonlyMap<string, { name: string; decode: Decoder }> = new Map([
  [CHARACTERISTIC.bloodPressureMeasurement, { name: 'Blood Pressure Measurement', decode: decodeBloodPressureMeasurement }],
  [CHARACTERISTIC.intermediateCuffPressure, { name: 'Intermediate Cuff Pressure', decode: decodeIntermediateCuffPressureAsReadings }],
  [CHARACTERISTIC.heartRateMeasurement, { name: 'Heart Rate Measurement', decode: decodeHeartRateMeasurement }],
  [CHARACTERISTIC.temperatureMeasurement, { name: 'Temperature Measurement', decode: decodeTemperatureMeasurement }],
  [CHARACTERISTIC.weightMeasurement, { name: 'Weight Measurement', decode: decodeWeightMeasurement }],
  [CHARACTERISTIC.bodyCompositionMeasurement, { name: 'Body Composition Measurement', decode: decodeBodyCompositionMeasurement }],
  [CHARACTERISTIC.plxSpotCheck, { name: 'PLX Spot-Check Measurement', decode: decodePlxSpotCheck }],
  [CHARACTERISTIC.plxContinuous, { name: 'PLX Continuous Measurement', decode: decodePlxContinuous }],
  [CHARACTERISTIC.glucoseMeasurement, { name: 'Glucose Measurement', decode: decodeGlucoseMeasurement }],
  [CHARACTERISTIC.glucoseMeasurementContext, { name: 'Glucose Measurement Context', decode: glucoseContextAlone }],
]);

const known = (): string => [...DECODERS.entries()].map(([uuid, d]) => `0x${uuid.slice(4, 8)} ${d.name}`).join(', ');

/** Like decodeCharacteristic, but also returns the notes (status bits, context, fields no Observation carries). */
export function decodeGattValue(uuid: string, bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  const parsed = parseUuid(uuid);
  if (!parsed.ok) return parsed;
  const decoder = DECODERS.get(parsed.value);
  if (decoder === undefined) return { ok: false, issues: [issue('GW_ERR_BLE_UNKNOWN_CHARACTERISTIC', 'uuid', parsed.value, known())] };
  return decoder.decode(bytes, ctx);
}

function deliverNotes(ctx: GattDecodeContext, notes: readonly DecodeNote[]): void {
  if (ctx.onNote) for (const n of notes) ctx.onNote(n);
}

/**
 * The notes a clinician reads with the value (measurement status, measurement context) go onto the Readings
 * as text; the rest (fields no Observation carries, time decisions, ignored values) stay log-only.
 */
function withClinicalNotes(readings: Reading[], notes: readonly DecodeNote[]): Reading[] {
  const text = notes
    .filter((n) => n.kind === NoteKind.status || n.kind === NoteKind.context)
    .map((n) => (n.kind === NoteKind.status ? `${n.characteristic}: ${n.detail}` : `${n.characteristic} ${n.field}: ${n.detail}`));
  if (text.length === 0) return readings;
  return readings.map((r) => ({ ...r, notes: [...(r.notes ?? []), ...text] }));
}

/** One notification/indication value → 0..n Readings, or typed decode issues (codes from gateway/errors.ts). Never throws for any bytes. Stateless. */
export function decodeCharacteristic(uuid: string, bytes: Uint8Array, ctx: GattDecodeContext): Result<Reading[]> {
  const decoded = decodeGattValue(uuid, bytes, ctx);
  if (!decoded.ok) return decoded;
  deliverNotes(ctx, decoded.value.notes);
  return { ok: true, value: withClinicalNotes(decoded.value.readings, decoded.value.notes) };
}

/**
 * A session's answer: like Result<Reading[]>, but a refused value can still release a held glucose
 * record (`released`), which the caller submits like any other Reading.
 */
export type SessionResult = { ok: true; value: Reading[] } | { ok: false; issues: Issue[]; released: Reading[] };

export interface GattSession {
  accept(uuid: string, bytes: Uint8Array): SessionResult;
  /** Release a held glucose record (end of the RACP transfer, disconnect). */
  flush(): Reading[];
}

/**
 * Stateful but pure (no I/O): pairs Glucose Measurement 0x2A18 with its Glucose Measurement Context
 * 0x2A34 (same sequence number; Glucose Profile 1.0 §3.1: the context follows its measurement). A
 * measurement whose flags say a context follows is held until the context arrives, the next measurement
 * arrives, or flush(). Every other characteristic goes straight to decodeCharacteristic.
 */
export function createGattSession(ctx: GattDecodeContext): GattSession {
  let held: { sequence: number; decoded: Decoded } | undefined;
  const release = (extraNotes: readonly DecodeNote[] = []): Reading[] => {
    if (held === undefined) return [];
    const { decoded } = held;
    held = undefined;
    deliverNotes(ctx, [...decoded.notes, ...extraNotes]);
    return withClinicalNotes(decoded.readings, [...decoded.notes, ...extraNotes]);
  };
  const fail = (issues: Issue[], released: Reading[]): SessionResult => ({ ok: false, issues, released });

  return {
    accept(uuid, bytes) {
      const canonical = normalizeUuid(uuid);
      if (canonical === CHARACTERISTIC.glucoseMeasurement) {
        const released = release(); // a new record: the held one's context is not coming
        const record = decodeGlucoseRecord(bytes, ctx);
        if (!record.ok) return fail(record.issues, released);
        if (record.value.contextFollows && record.value.decoded.readings.length > 0) {
          held = { sequence: record.value.sequence, decoded: record.value.decoded };
          return { ok: true, value: released };
        }
        deliverNotes(ctx, record.value.decoded.notes);
        return { ok: true, value: [...released, ...withClinicalNotes(record.value.decoded.readings, record.value.decoded.notes)] };
      }
      if (canonical === CHARACTERISTIC.glucoseMeasurementContext) {
        const context = decodeGlucoseContext(bytes);
        if (!context.ok) return fail(context.issues, release());
        if (held !== undefined && held.sequence === context.value.sequence) return { ok: true, value: release(context.value.notes) };
        const released = release();
        deliverNotes(ctx, [
          ...context.value.notes,
          { kind: NoteKind.ignored, characteristic: 'Glucose Measurement Context', field: 'sequenceNumber', detail: `context of record ${context.value.sequence} matches no held measurement` },
        ]);
        return { ok: true, value: released };
      }
      const result = decodeCharacteristic(uuid, bytes, ctx);
      return result.ok ? result : fail(result.issues, []);
    },
    flush() {
      return release();
    },
  };
}
