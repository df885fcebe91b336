// ADT (admit/discharge/transfer) messages as real EHRs send them → a typed AdtMessage, pure.
// Our own parser rather than hl7-standard: it must honour MSH-2's encoding characters, CR / CRLF / LF
// segment ends, repeated fields and escapes, and say *which* field is wrong (the ACK's ERR-2).
import type { Result } from '../../gateway/types.ts';
import { issue } from '../../gateway/errors.ts';

/** HL7 v2.5.1 table 0003 (event type): the ADT events the roster applies. */
export const AdtEvent = {
  A01: 'A01', // admit / visit notification
  A03: 'A03', // discharge / end visit
  A04: 'A04', // register a patient
  A08: 'A08', // update patient information
  A11: 'A11', // cancel admit / visit notification
  A28: 'A28', // add person information
  A31: 'A31', // update person information
  A40: 'A40', // merge patient – patient identifier list
} as const;
export type AdtEvent = (typeof AdtEvent)[keyof typeof AdtEvent];
const ADT_EVENTS: readonly string[] = Object.values(AdtEvent);

/** HL7 v2.5.1 table 0357 (message error condition codes), ERR-3. */
export const Hl7ErrorCode = {
  segmentSequence: { code: '100', text: 'Segment sequence error' },
  requiredFieldMissing: { code: '101', text: 'Required field missing' },
  dataType: { code: '102', text: 'Data type error' },
  unsupportedMessageType: { code: '200', text: 'Unsupported message type' },
  unsupportedEvent: { code: '201', text: 'Unsupported event code' },
  unsupportedProcessingId: { code: '202', text: 'Unsupported processing id' },
  unsupportedVersion: { code: '203', text: 'Unsupported version id' },
  unknownKey: { code: '204', text: 'Unknown key identifier' },
  internal: { code: '207', text: 'Application internal error' },
} as const;
export type Hl7ErrorCode = (typeof Hl7ErrorCode)[keyof typeof Hl7ErrorCode];

/**
 * Why a message was not applied, as the ACK must say it (HL7 v2.5.1 §2.9.2 original mode):
 * AR when the message itself is unacceptable (type, event, version, processing id, no MSH),
 * AE when it was understood but cannot be applied (a required field missing, an unknown MRN).
 */
export interface AdtRefusal {
  ack: 'AE' | 'AR';
  error: Hl7ErrorCode;
  /** ERR-2 ERL: segment id, segment sequence, field position (e.g. PID^1^3). */
  location?: { segment: string; sequence: number; field?: number };
  /** ERR-8 user message; never contains field values (PHI). */
  message: string;
  /** Metric label: the gateway error code. */
  code: 'GW_ERR_ADT_REJECTED' | 'GW_ERR_ADT_NOT_APPLIED';
}

export interface Encoding {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

/** An identifier from PID-3 / MRG-1 (CX): id, assigning authority as a system, identifier type (table 0203). */
export interface AdtIdentifier {
  value: string;
  /** `urn:oid:<oid>` for an ISO authority, the URI for a URI one, else the namespace id; undefined when absent. */
  system?: string;
  /** CX-4 as received, for the PID we send back. */
  authority?: { namespace?: string; universalId?: string; universalIdType?: string };
  type?: string;
}

export interface AdtPatient {
  identifiers: AdtIdentifier[];
  name?: { family: string; given: string; middle?: string; suffix?: string };
  /** PID-7 as YYYY-MM-DD when it has at least a day. */
  birthDate?: string;
  /** PID-8 (table 0001). */
  sex?: string;
  /** PID-13 first telephone number. */
  phone?: string;
}

export interface AdtMessage {
  controlId: string;
  event: AdtEvent;
  /** MSH-12 version id. */
  version: string;
  header: { sendingApplication: string; sendingFacility: string; receivingApplication: string; receivingFacility: string; processingId: string };
  patient: AdtPatient;
  /** PV1-19 visit number and PV1-2 patient class. */
  visit?: { number?: string; patientClass?: string };
  /** A40: MRG-1 prior patient identifier list. */
  prior?: AdtIdentifier[];
}

/** Header fields needed to answer, even for a message that is then refused. */
export interface AdtHeader {
  encoding: Encoding;
  /** MSH fields, unescaped, by HL7 position (index 1 = MSH-1); first component only. */
  msh: string[];
  /** MSH fields as received (still in the message's encoding), by HL7 position. */
  raw: string[];
  controlId: string;
}

export type AdtParse = { ok: true; value: AdtMessage; header: AdtHeader } | { ok: false; refusal: AdtRefusal; header?: AdtHeader };

/** HL7 v2.x versions we read (MSH-12, table 0104); ADT fields used here are stable across them. */
const SUPPORTED_VERSION = /^2\.(3|3\.1|4|5|5\.1|6|7|7\.1|8|8\.1|8\.2|9)$/;

export function splitSegments(text: string): string[] {
  // HL7 v2.5.1 §2.5.1: segments end with CR; CRLF and LF are tolerated because real feeds send them.
  return text.split(/\r\n|\r|\n/).filter((s) => s.trim().length > 0);
}

/** MSH-1/MSH-2 (HL7 v2.5.1 §2.14.9.1-2): the five delimiters, all distinct and not alphanumeric. */
export function encodingOf(msh: string): Encoding | undefined {
  if (!msh.startsWith('MSH') || msh.length < 8) return undefined;
  const field = msh.charAt(3);
  const chars = msh.slice(4).split(field, 1)[0] ?? '';
  if (chars.length < 4 || chars.length > 5) return undefined;
  const [component, repetition, escape, subcomponent] = [...chars] as [string, string, string, string];
  const all = [field, component, repetition, escape, subcomponent];
  if (new Set(all).size !== all.length || all.some((c) => /[A-Za-z0-9\s]/.test(c))) return undefined;
  return { field, component, repetition, escape, subcomponent };
}

/**
 * A composite field re-written in the default encoding characters `^&` with our escaping: an HD such as
 * MSH-3 `EPIC^1.2.3^ISO` keeps its components whatever delimiters the sender used.
 */
export function recodeField(raw: string, enc: Encoding, escape: (text: string) => string): string {
  return raw
    .split(enc.component)
    .map((c) => c.split(enc.subcomponent).map((s) => escape(unescapeWith(s, enc))).join('&'))
    .join('^')
    .replace(/\^+$/, '');
}

/** Undo escapes written with this message's escape character (HL7 v2.5.1 §2.7). */
export function unescapeWith(text: string, enc: Encoding): string {
  if (!text.includes(enc.escape)) return text;
  const e = enc.escape.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`${e}([FSRET]|X[0-9A-Fa-f]+|\\.br)${e}`, 'g'), (whole, seq: string) => {
    switch (seq) {
      case 'F':
        return enc.field;
      case 'S':
        return enc.component;
      case 'R':
        return enc.repetition;
      case 'E':
        return enc.escape;
      case 'T':
        return enc.subcomponent;
      case '.br':
        return '\r';
      default: {
        const hex = seq.slice(1);
        return hex.length % 2 === 0 ? Buffer.from(hex, 'hex').toString('latin1') : whole;
      }
    }
  });
}

/** One segment as raw (still escaped) fields; index n = field n (for MSH, index 1 = MSH-1). */
function fieldsOf(segment: string, enc: Encoding): string[] {
  const parts = segment.split(enc.field);
  if (parts[0] === 'MSH') return ['MSH', enc.field, ...parts.slice(1)];
  return parts;
}

const components = (raw: string, enc: Encoding): string[] => raw.split(enc.component);
const repetitions = (raw: string, enc: Encoding): string[] => (raw === '' ? [] : raw.split(enc.repetition));
/** `""` is HL7's explicit null (§2.5.3); for the roster it means "no value". */
const leaf = (raw: string | undefined, enc: Encoding): string => {
  const v = unescapeWith(raw ?? '', enc).trim();
  return v === '""' ? '' : v;
};

/** Read the MSH well enough to answer; undefined when there is no usable MSH at all. */
export function readHeader(text: string): AdtHeader | undefined {
  const first = splitSegments(text)[0];
  if (first === undefined) return undefined;
  const enc = encodingOf(first);
  if (enc === undefined) return undefined;
  const raw = fieldsOf(first, enc);
  const msh = raw.map((f, i) => (i <= 2 ? f : leaf(components(f, enc)[0], enc)));
  // MSH-9 keeps its components for the caller: re-read them.
  msh[9] = raw[9] ?? '';
  return { encoding: enc, msh, raw, controlId: leaf(components(raw[10] ?? '', enc)[0], enc) };
}

function cx(raw: string, enc: Encoding): AdtIdentifier | undefined {
  const c = components(raw, enc);
  const value = leaf(c[0], enc);
  if (value === '') return undefined;
  const id: AdtIdentifier = { value };
  // CX-4 assigning authority (HD): namespace id & universal id & universal id type (table 0301).
  const hd = (c[3] ?? '').split(enc.subcomponent).map((s) => leaf(s, enc));
  const [namespace = '', universalId = '', universalIdType = ''] = hd;
  if (namespace !== '' || universalId !== '') {
    id.authority = {
      ...(namespace !== '' ? { namespace } : {}),
      ...(universalId !== '' ? { universalId } : {}),
      ...(universalIdType !== '' ? { universalIdType } : {}),
    };
    if (universalId !== '' && universalIdType.toUpperCase() === 'ISO') id.system = `urn:oid:${universalId}`;
    else if (universalId !== '') id.system = universalId;
    else id.system = namespace;
  }
  const type = leaf(c[4], enc);
  if (type !== '') id.type = type;
  return id;
}

const cxList = (raw: string, enc: Encoding): AdtIdentifier[] =>
  repetitions(raw, enc).map((r) => cx(r, enc)).filter((x): x is AdtIdentifier => x !== undefined);

/** HL7 DT/DTM → YYYY-MM-DD (only when a full day is given). */
function birthDateOf(raw: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})/.exec(raw);
  if (!m) return undefined;
  const [, y, mo, d] = m;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d)) return undefined;
  return `${y}-${mo}-${d}`;
}

export function parseAdt(text: string): AdtParse {
  const header = readHeader(text);
  if (header === undefined) {
    return { ok: false, refusal: refusal('AR', Hl7ErrorCode.segmentSequence, 'GW_ERR_ADT_REJECTED', 'no MSH segment with valid encoding characters at the start', { segment: 'MSH', sequence: 1 }) };
  }
  const { encoding: enc, msh } = header;
  const reject = (error: Hl7ErrorCode, message: string, field: number): AdtParse => ({
    ok: false,
    header,
    refusal: refusal('AR', error, 'GW_ERR_ADT_REJECTED', message, { segment: 'MSH', sequence: 1, field }),
  });
  if (header.controlId === '') return reject(Hl7ErrorCode.requiredFieldMissing, 'MSH-10 message control id is empty', 10);
  // MSH-9 message type (MSG): type ^ trigger event ^ structure (tables 0076, 0003, 0354).
  const type = components(msh[9] ?? '', enc).map((c) => leaf(c, enc));
  if (type[0] !== 'ADT') return reject(Hl7ErrorCode.unsupportedMessageType, `message type "${type[0] ?? ''}" is not accepted here; only ADT`, 9);
  if (!ADT_EVENTS.includes(type[1] ?? '')) return reject(Hl7ErrorCode.unsupportedEvent, `ADT event "${type[1] ?? ''}" is not supported; supported: ${ADT_EVENTS.join(', ')}`, 9);
  const version = msh[12] ?? '';
  if (!SUPPORTED_VERSION.test(version)) return reject(Hl7ErrorCode.unsupportedVersion, `HL7 version "${version}" is not supported (2.3 to 2.9)`, 12);
  // MSH-11 processing id, table 0103: P production, T training, D debugging.
  const processingId = msh[11] ?? '';
  if (!/^[PTD]$/.test(processingId)) return reject(Hl7ErrorCode.unsupportedProcessingId, `processing id "${processingId}" is not P, T or D`, 11);

  const segments = splitSegments(text).map((s) => fieldsOf(s, enc));
  const seg = (id: string): string[] | undefined => segments.find((s) => s[0] === id);
  const notApplied = (error: Hl7ErrorCode, message: string, location: AdtRefusal['location']): AdtParse => ({
    ok: false,
    header,
    refusal: refusal('AE', error, 'GW_ERR_ADT_NOT_APPLIED', message, location),
  });

  const pid = seg('PID');
  if (pid === undefined) return notApplied(Hl7ErrorCode.segmentSequence, 'PID segment missing', { segment: 'PID', sequence: 1 });
  const identifiers = cxList(pid[3] ?? '', enc);
  if (identifiers.length === 0) return notApplied(Hl7ErrorCode.requiredFieldMissing, 'PID-3 patient identifier list is empty', { segment: 'PID', sequence: 1, field: 3 });

  const patient: AdtPatient = { identifiers };
  // PID-5 XPN (first repetition): family (FN) ^ given ^ second/middle ^ suffix.
  const xpn = components(repetitions(pid[5] ?? '', enc)[0] ?? '', enc);
  const family = leaf((xpn[0] ?? '').split(enc.subcomponent)[0], enc);
  const given = leaf(xpn[1], enc);
  if (family !== '' || given !== '') {
    const middle = leaf(xpn[2], enc);
    const suffix = leaf(xpn[3], enc);
    patient.name = { family, given, ...(middle !== '' ? { middle } : {}), ...(suffix !== '' ? { suffix } : {}) };
  }
  const dob = leaf(components(pid[7] ?? '', enc)[0], enc);
  if (dob !== '') {
    const birthDate = birthDateOf(dob);
    if (birthDate === undefined) return notApplied(Hl7ErrorCode.dataType, 'PID-7 date of birth is not an HL7 date', { segment: 'PID', sequence: 1, field: 7 });
    patient.birthDate = birthDate;
  }
  const sex = leaf(components(pid[8] ?? '', enc)[0], enc);
  if (sex !== '') patient.sex = sex;
  // PID-13 XTN: v2.3 puts the number in XTN-1; v2.5+ may leave it empty and use XTN-6 area code +
  // XTN-7 local number, or XTN-12 unformatted.
  const xtn = components(repetitions(pid[13] ?? '', enc)[0] ?? '', enc);
  const phone = leaf(xtn[0], enc) || leaf(xtn[11], enc) || `${leaf(xtn[5], enc)}${leaf(xtn[6], enc)}`;
  if (phone !== '') patient.phone = phone;

  const message: AdtMessage = {
    controlId: header.controlId,
    event: type[1] as AdtEvent,
    version,
    header: {
      sendingApplication: msh[3] ?? '',
      sendingFacility: msh[4] ?? '',
      receivingApplication: msh[5] ?? '',
      receivingFacility: msh[6] ?? '',
      processingId,
    },
    patient,
  };
  const pv1 = seg('PV1');
  if (pv1 !== undefined) {
    const number = leaf(components(pv1[19] ?? '', enc)[0], enc);
    const patientClass = leaf(components(pv1[2] ?? '', enc)[0], enc);
    if (number !== '' || patientClass !== '') message.visit = { ...(number !== '' ? { number } : {}), ...(patientClass !== '' ? { patientClass } : {}) };
  }
  if (message.event === AdtEvent.A40) {
    const mrg = seg('MRG');
    if (mrg === undefined) return notApplied(Hl7ErrorCode.segmentSequence, 'A40 needs an MRG segment', { segment: 'MRG', sequence: 1 });
    const prior = cxList(mrg[1] ?? '', enc);
    if (prior.length === 0) return notApplied(Hl7ErrorCode.requiredFieldMissing, 'MRG-1 prior patient identifier list is empty', { segment: 'MRG', sequence: 1, field: 1 });
    message.prior = prior;
  }
  return { ok: true, value: message, header };
}

function refusal(ack: AdtRefusal['ack'], error: Hl7ErrorCode, code: AdtRefusal['code'], message: string, location?: AdtRefusal['location']): AdtRefusal {
  return { ack, error, code, message, ...(location ? { location } : {}) };
}

/** The refusal as an Issue (for logs and metrics). */
export function refusalIssue(r: AdtRefusal): Result<never> {
  const where = r.location ? `${r.location.segment}${r.location.field !== undefined ? `-${r.location.field}` : ''}` : undefined;
  return { ok: false, issues: [issue(r.code, where, r.error.code, r.message)] };
}
