// The original-mode ACK our ADT listener answers (HL7 v2.5.1 §2.9.2): MSH with sending and receiving
// application/facility swapped, MSA-1 AA/AE/AR, MSA-2 = the message's MSH-10, and for AE/AR an ERR segment
// (ERR-2 location, ERR-3 table 0357, ERR-4 severity, ERR-8 user message). Always default encoding characters.
import { randomBytes } from 'node:crypto';
import { recodeField, type AdtHeader, type AdtRefusal } from './adt-parser.ts';
import { escapeHl7 } from './escape.ts';
import { hl7TimestampOf } from './timestamp.ts';

export interface AdtAckOptions {
  now?: Date;
  controlId?: string;
  /** Our own MSH-3/4 when the message named no receiving application/facility. */
  application?: string;
  facility?: string;
}

/** `header` undefined: the message had no usable MSH; the ACK then has an empty MSA-2 (nothing to echo). */
export function buildAdtAck(header: AdtHeader | undefined, code: 'AA' | 'AE' | 'AR', refusal?: AdtRefusal, options: AdtAckOptions = {}): string {
  const f = (n: number): string => header?.msh[n] ?? '';
  // MSH-3..6 are HD: copied whole (all components), re-encoded in our delimiters.
  const hd = (n: number): string => (header === undefined ? '' : recodeField(header.raw[n] ?? '', header.encoding, escapeHl7));
  const enc = header?.encoding;
  const trigger = enc === undefined ? '' : (f(9).split(enc.component)[1] ?? '');
  const version = /^2\.\d+(\.\d+)?$/.test(f(12)) ? f(12) : '2.5.1';
  const processingId = /^[PTD]$/.test(f(11)) ? f(11) : 'P';
  const msh = [
    'MSH',
    '^~\\&',
    hd(5) || escapeHl7(options.application ?? ''), // MSH-3 ← the message's receiving application
    hd(6) || escapeHl7(options.facility ?? ''),
    hd(3), // MSH-5 ← the message's sending application
    hd(4),
    hl7TimestampOf(options.now ?? new Date()),
    '',
    // MSH-9: ACK ^ the trigger event ^ ACK structure (HL7 v2.5.1 §2.9.2, table 0354)
    trigger === '' ? 'ACK' : `ACK^${escapeHl7(trigger)}^ACK`,
    options.controlId ?? randomBytes(10).toString('hex'),
    processingId,
    version,
  ].join('|');
  const msa = `MSA|${code}|${escapeHl7(header?.controlId ?? '')}`;
  const segments = [msh, msa];
  if (refusal !== undefined && code !== 'AA') {
    const loc = refusal.location;
    // ERR-2 ERL: segment id ^ segment sequence ^ field position.
    const erl = loc === undefined ? '' : [loc.segment, String(loc.sequence), loc.field === undefined ? '' : String(loc.field)].filter((x, i) => i < 2 || x !== '').join('^');
    // ERR-3 CWE from table 0357; ERR-4 table 0516: E error; ERR-8 user message.
    segments.push(`ERR||${erl}|${refusal.error.code}^${escapeHl7(refusal.error.text)}^HL70357|E||||${escapeHl7(refusal.message)}`);
  }
  return segments.join('\r');
}
