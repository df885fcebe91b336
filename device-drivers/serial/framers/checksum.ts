// Checksums of serial records. CRC parameters and check values from the CRC RevEng catalogue
// (reveng.sourceforge.io/crc-catalogue/16.htm): check = CRC of the ASCII bytes "123456789".
import type { ChecksumKind } from '../../../gateway/profiles/schema.ts';

/** XOR of all bytes (longitudinal redundancy check). */
export function xor8(bytes: Uint8Array): number {
  let c = 0;
  for (const b of bytes) c ^= b;
  return c;
}

/** Sum of all bytes modulo 256. */
export function sum8(bytes: Uint8Array): number {
  let c = 0;
  for (const b of bytes) c = (c + b) & 0xff;
  return c;
}

/** CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740): width 16, poly 0x1021, init 0xFFFF, refin/refout false, xorout 0; check 0x29B1. */
export function crc16CcittFalse(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** CRC-16/MODBUS: width 16, poly 0x8005 (0xA001 reflected), init 0xFFFF, refin/refout true, xorout 0; check 0x4B37. */
export function crc16Modbus(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Width of the checksum on the wire in bytes (binary encoding). */
export function checksumWidth(kind: ChecksumKind): number {
  switch (kind) {
    case 'none':
      return 0;
    case 'xor':
    case 'sum8':
      return 1;
    case 'crc16-ccitt-false':
    case 'crc16-modbus':
      return 2;
    default:
      return kind satisfies never;
  }
}

export function computeChecksum(kind: ChecksumKind, bytes: Uint8Array): number {
  switch (kind) {
    case 'none':
      return 0;
    case 'xor':
      return xor8(bytes);
    case 'sum8':
      return sum8(bytes);
    case 'crc16-ccitt-false':
      return crc16CcittFalse(bytes);
    case 'crc16-modbus':
      return crc16Modbus(bytes);
    default:
      return kind satisfies never;
  }
}

/** The checksum as binary wire bytes: CCITT high byte first; Modbus RTU low byte first (Modbus over serial line v1.02 §2.5.1.2). */
export function checksumBytes(kind: ChecksumKind, value: number): Buffer {
  switch (checksumWidth(kind)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return Buffer.from([value & 0xff]);
    default:
      return kind === 'crc16-modbus' ? Buffer.from([value & 0xff, value >>> 8]) : Buffer.from([value >>> 8, value & 0xff]);
  }
}

/** Read a binary checksum from the wire (inverse of checksumBytes). */
export function readChecksum(kind: ChecksumKind, bytes: Uint8Array): number {
  const w = checksumWidth(kind);
  if (w === 1) return bytes[0]!;
  if (w === 2) return kind === 'crc16-modbus' ? bytes[0]! | (bytes[1]! << 8) : (bytes[0]! << 8) | bytes[1]!;
  return 0;
}

export function hex(value: number, width: number): string {
  return value.toString(16).toUpperCase().padStart(width * 2, '0');
}
