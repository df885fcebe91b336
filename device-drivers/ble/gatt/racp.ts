// Record Access Control Point 0x2A52 (GATT Specification Supplement §3.177; Glucose Profile 1.0 §4.10):
// ask a meter for its stored records since the last sequence number seen, and read its answers.
import { issue } from '../../../gateway/errors.ts';
import type { Result } from '../../../gateway/types.ts';

/** GSS §3.177.1 Op Code. */
export const RacpOpcode = {
  reportStoredRecords: 0x01,
  deleteStoredRecords: 0x02,
  abortOperation: 0x03,
  reportNumberOfStoredRecords: 0x04,
  numberOfStoredRecordsResponse: 0x05,
  responseCode: 0x06,
} as const;

/** GSS §3.177.2 Operator. */
export const RacpOperator = {
  null: 0x00,
  allRecords: 0x01,
  lessThanOrEqualTo: 0x02,
  greaterThanOrEqualTo: 0x03,
  withinRangeOf: 0x04,
  firstRecord: 0x05,
  lastRecord: 0x06,
} as const;

/** Glucose Profile 1.0 Table 4.11 Filter Type: 0x01 = Sequence Number. */
const FILTER_SEQUENCE_NUMBER = 0x01;

/** GSS §3.177.3 Response Code values. */
export const RACP_RESPONSE_CODES: Readonly<Record<number, string>> = {
  0x01: 'success',
  0x02: 'op code not supported',
  0x03: 'invalid operator',
  0x04: 'operator not supported',
  0x05: 'invalid operand',
  0x06: 'no records found',
  0x07: 'abort unsuccessful',
  0x08: 'procedure not completed',
  0x09: 'operand not supported',
};

/** "Report stored records, greater than or equal to sequence number N": 01 03 01 NN NN. */
export function encodeRacpReportSince(sequence: number): Uint8Array {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > 0xffff) throw new RangeError(`RACP sequence number must be 0..65535, got ${sequence}`);
  return Uint8Array.of(RacpOpcode.reportStoredRecords, RacpOperator.greaterThanOrEqualTo, FILTER_SEQUENCE_NUMBER, sequence & 0xff, sequence >> 8);
}

/** "Report stored records, all records": 01 01. */
export function encodeRacpReportAll(): Uint8Array {
  return Uint8Array.of(RacpOpcode.reportStoredRecords, RacpOperator.allRecords);
}

/** "Report number of stored records, greater than or equal to sequence number N": 04 03 01 NN NN. */
export function encodeRacpCountSince(sequence: number): Uint8Array {
  const v = encodeRacpReportSince(sequence);
  v[0] = RacpOpcode.reportNumberOfStoredRecords;
  return v;
}

export type RacpResponse = { kind: 'response'; requestOpcode: number; code: number; codeName: string } | { kind: 'count'; records: number };

/** An RACP indication: Response Code (06 00 <request op> <code>) or Number of Stored Records (05 00 <uint16>). */
export function decodeRacpResponse(bytes: Uint8Array): Result<RacpResponse> {
  const hex = Buffer.from(bytes).toString('hex');
  const short = (need: number): Result<RacpResponse> => ({
    ok: false,
    issues: [issue('GW_ERR_BLE_FRAME_SHORT', 'racp', 'Record Access Control Point', 'response', need, 0, bytes.length)],
  });
  if (bytes.length < 2) return short(2);
  const op = bytes[0]!;
  // GSS §3.177: responses carry the Null operator (0x00).
  if (bytes[1] !== RacpOperator.null) return { ok: false, issues: [issue('GW_ERR_BLE_RACP', 'racp.operator', hex, `response operator must be 0x00 (Null), got 0x${bytes[1]!.toString(16)}`)] };
  switch (op) {
    case RacpOpcode.responseCode: {
      if (bytes.length < 4) return short(4);
      const code = bytes[3]!;
      return { ok: true, value: { kind: 'response', requestOpcode: bytes[2]!, code, codeName: RACP_RESPONSE_CODES[code] ?? `reserved response code 0x${code.toString(16)}` } };
    }
    case RacpOpcode.numberOfStoredRecordsResponse:
      if (bytes.length < 4) return short(4);
      return { ok: true, value: { kind: 'count', records: bytes[2]! | (bytes[3]! << 8) } };
    default:
      return { ok: false, issues: [issue('GW_ERR_BLE_RACP', 'racp.opcode', hex, `op code 0x${op.toString(16)} is not a response (0x05 or 0x06)`)] };
  }
}
