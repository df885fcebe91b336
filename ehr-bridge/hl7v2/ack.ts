// HL7 v2 acknowledgements (original and enhanced mode): parse what a receiver answers, and build the
// answer our own sink gives. HL7 v2.5.1 ch. 2.9 (acknowledgment rules), segments MSA (2.15.8) and ERR (2.15.5).
import { randomBytes } from 'node:crypto';
import { issue } from '../../gateway/errors.ts';
import type { Result } from '../../gateway/types.ts';
import { escapeHl7, unescapeHl7 } from './escape.ts';
import { hl7TimestampOf } from './timestamp.ts';

/** HL7 v2.5.1 table 0008 (acknowledgment code), MSA-1. */
export const AckCode = {
  /** Original mode: application accept. */
  AA: 'AA',
  /** Original mode: application error (the receiver may succeed later). */
  AE: 'AE',
  /** Original mode: application reject (the message itself is unacceptable). */
  AR: 'AR',
  /** Enhanced mode: commit accept. */
  CA: 'CA',
  /** Enhanced mode: commit error. */
  CE: 'CE',
  /** Enhanced mode: commit reject. */
  CR: 'CR',
} as const;
export type AckCode = (typeof AckCode)[keyof typeof AckCode];
const ACK_CODES: readonly string[] = Object.values(AckCode);

export interface Ack {
  code: AckCode;
  /** MSA-2: the MSH-10 of the message being acknowledged. */
  controlId: string;
  /** MSA-3 and/or the ERR segment's text, unescaped. */
  text?: string;
  /** The ACK's own MSH-15 (table 0155): an enhanced-mode application ACK may ask for a commit ACK back. */
  acceptAcknowledgmentType?: string;
}

/**
 * Parse an ACK. Anything that is not clearly an ACK (no MSH, no MSA, a code outside table 0008,
 * no MSA-2) is an issue, never a delivery. `sentControlId` only improves the issue message.
 */
export function parseAck(text: string, sentControlId = 'the message'): Result<Ack> {
  const malformed = (path: string, why: string): Result<Ack> => ({
    ok: false,
    issues: [issue('GW_ERR_MLLP_ACK_MALFORMED', path, sentControlId, why)],
  });
  const segments = text.split(/\r\n|\r|\n/).filter((s) => s.length > 0);
  const msh = segments[0];
  if (msh === undefined || !msh.startsWith('MSH') || msh.length < 8) return malformed('MSH', 'no MSH segment at the start');
  const enc = encodingOf(msh);
  if (enc === undefined) return malformed('MSH-2', 'invalid encoding characters');

  const msa = segments.find((s) => s.startsWith(`MSA${enc.field}`));
  if (msa === undefined) return malformed('MSA', 'no MSA segment');
  const msaFields = msa.split(enc.field);
  const code = (msaFields[1] ?? '').trim();
  if (!ACK_CODES.includes(code)) return malformed('MSA-1', `acknowledgment code "${code}" is not in HL7 table 0008`);
  const controlId = unescapeHl7(firstComponent(msaFields[2] ?? '', enc)).trim();
  if (controlId === '') return malformed('MSA-2', 'no message control id');

  const texts: string[] = [];
  const msa3 = unescapeHl7(msaFields[3] ?? '').trim();
  if (msa3 !== '') texts.push(msa3);
  for (const err of segments.filter((s) => s.startsWith(`ERR${enc.field}`))) {
    const t = errText(err, enc);
    if (t !== '' && !texts.includes(t)) texts.push(t);
  }
  const ack: Ack = { code: code as AckCode, controlId };
  if (texts.length > 0) ack.text = texts.join('; ');
  // MSH-1 is the field separator itself, so MSH-15 is split index 14.
  const msh15 = (msh.split(enc.field)[14] ?? '').trim();
  if (msh15 !== '') ack.acceptAcknowledgmentType = msh15;
  return { ok: true, value: ack };
}

/** The MSH-10 of a message, or undefined when it has none. */
export function controlIdOfMessage(message: string): string | undefined {
  const msh = message.split(/\r\n|\r|\n/, 1)[0];
  if (msh === undefined || !msh.startsWith('MSH') || msh.length < 8) return undefined;
  const enc = encodingOf(msh);
  if (enc === undefined) return undefined;
  // MSH-1 is the field separator itself, so MSH-n is split index n-1.
  const id = unescapeHl7(firstComponent(msh.split(enc.field)[9] ?? '', enc)).trim();
  return id === '' ? undefined : id;
}

export interface BuildAckOptions {
  now?: Date;
  /** MSH-10 of the ACK itself; a random id when absent. */
  controlId?: string;
}

/**
 * An original-mode ACK for `message`: MSH with sender and receiver swapped, MSA-1 `code`,
 * MSA-2 = the message's MSH-10, and for AE/AR an ERR segment carrying `text` in ERR-8.
 * A message without a usable MSH still gets an answer (with an empty MSA-2), so a sender never waits.
 */
export function buildAck(message: string, code: AckCode, text?: string, options: BuildAckOptions = {}): string {
  const msh = message.split(/\r\n|\r|\n/, 1)[0] ?? '';
  const enc = msh.startsWith('MSH') && msh.length >= 8 ? encodingOf(msh) : undefined;
  // Fields copied from the message stay in its encoding; we only answer with default encoding characters.
  const fields = enc !== undefined && enc.field === '|' && msh.slice(4, 8) === '^~\\&' ? msh.split('|') : ['MSH', '^~\\&'];
  const f = (n: number): string => fields[n - 1] ?? '';
  const trigger = f(9).split('^')[1] ?? '';
  const version = f(12) === '' ? '2.5.1' : f(12);
  const header = [
    'MSH',
    '^~\\&',
    f(5), // MSH-3 ← receiving application
    f(6),
    f(3), // MSH-5 ← sending application
    f(4),
    hl7TimestampOf(options.now ?? new Date()),
    '',
    trigger === '' ? 'ACK' : `ACK^${trigger}^ACK`,
    options.controlId ?? randomBytes(10).toString('hex'),
    f(11) === '' ? 'P' : f(11),
    version,
  ].join('|');
  const msaText = text === undefined ? '' : escapeHl7(text);
  const segments = [header, `MSA|${code}|${f(10)}${msaText === '' ? '' : `|${msaText}`}`];
  if (text !== undefined && code !== AckCode.AA && code !== AckCode.CA) {
    // ERR-3 table 0357: 207 application internal error; ERR-4 table 0516: E error; ERR-8 user message.
    segments.push(`ERR|||207^Application internal error^HL70357|E||||${msaText}`);
  }
  return segments.join('\r');
}

// ---------------------------------------------------------------------------------------------

interface Encoding {
  field: string;
  component: string;
}

function encodingOf(msh: string): Encoding | undefined {
  const field = msh.charAt(3);
  const component = msh.charAt(4);
  if (field === '' || component === '' || /[A-Za-z0-9\r\n]/.test(field + component)) return undefined;
  return { field, component };
}

function firstComponent(value: string, enc: Encoding): string {
  return value.split(enc.component)[0] ?? '';
}

/** ERR-8 user message (v2.5+), else ERR-3 text (CWE.2), else the v2.4 ERR-1 ELD code text. */
function errText(err: string, enc: Encoding): string {
  const fields = err.split(enc.field);
  const userMessage = unescapeHl7(fields[8] ?? '').trim();
  if (userMessage !== '') return userMessage;
  const hl7Error = (fields[3] ?? '').split(enc.component);
  const errorText = unescapeHl7(hl7Error[1] ?? '').trim();
  if (errorText !== '') return errorText;
  // v2.4 ERR-1 (ELD): segment^sequence^field^code&text&system
  const eld = (fields[1] ?? '').split(enc.component)[3] ?? '';
  return unescapeHl7(eld.split('&')[1] ?? eld).trim();
}
