// The firmware profile format (firmware-profiles/*.yaml): one device model and firmware range as data.
// A field tech adds a device by writing one of these; `gw profiles lint` checks it, the registry loads it.
import { z } from 'zod';
import { SPECIAL_VALUES, type SpecialValue } from '../types.ts';
import { parseJsonPath } from './json-path.ts';

/** Transports a profile can describe. Open set on purpose: BLE adds its own settings object. */
export const ProfileTransport = {
  serial: 'serial',
  /** A vendor's own JSON payload on rpm/<deviceId>/reading, mapped by the profile's `json` section. */
  mqtt: 'mqtt',
  /** A Bluetooth LE device speaking the standard GATT health profiles; the profile carries quirks only. */
  ble: 'ble',
} as const;
export type ProfileTransport = (typeof ProfileTransport)[keyof typeof ProfileTransport];

/** Checksums a framed record can carry. Parameters per the CRC RevEng catalogue (reveng.sourceforge.io/crc-catalogue). */
export const ChecksumKind = {
  none: 'none',
  /** XOR of the covered bytes (longitudinal redundancy check). */
  xor: 'xor',
  /** Sum of the covered bytes modulo 256. */
  sum8: 'sum8',
  /** CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0; check("123456789") = 0x29B1; sent high byte first. */
  crc16CcittFalse: 'crc16-ccitt-false',
  /** CRC-16/MODBUS: poly 0x8005 reflected, init 0xFFFF, xorout 0; check("123456789") = 0x4B37; sent low byte first (Modbus RTU). */
  crc16Modbus: 'crc16-modbus',
} as const;
export type ChecksumKind = (typeof ChecksumKind)[keyof typeof ChecksumKind];
const checksumKinds = Object.values(ChecksumKind) as [ChecksumKind, ...ChecksumKind[]];

const hexBytes = z
  .string()
  .regex(/^(?:[0-9A-Fa-f]{2}\s?)+$/, 'hex bytes, e.g. "06" or "AA 55"')
  .transform((s) => s.replace(/\s/g, '').toUpperCase());

// --- transport settings -------------------------------------------------------------------------

export const serialSettingsSchema = z
  .object({
    kind: z.literal('serial'),
    baudRate: z.number().int().positive().default(9600),
    dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none'),
    stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(1),
  })
  .strict();

/** Discriminated on `kind`; BLE (service/characteristic) joins this union. */
export const transportSchema = z.discriminatedUnion('kind', [serialSettingsSchema]);

/** Nothing to set: the device id comes from the topic, the broker settings from the `mqtt:` config section. */
export const mqttSettingsSchema = z.object({ kind: z.literal('mqtt') }).strict();

// --- framing: how bytes become frames -----------------------------------------------------------

export const lineFramingSchema = z
  .object({
    kind: z.literal('line'),
    /** `any` ends a line at CR, LF or CRLF (devices disagree, and terminals add their own). */
    delimiter: z.enum(['CR', 'LF', 'CRLF', 'any']).default('any'),
    maxLength: z.number().int().min(8).max(65536).default(512),
  })
  .strict();

export const stxEtxFramingSchema = z
  .object({
    kind: z.literal('stx-etx'),
    checksum: z.enum(checksumKinds).default('none'),
    /** `binary`: 1 byte (xor, sum8) or 2 bytes (CRC-16); `ascii-hex`: 2 or 4 hex characters. */
    checksumEncoding: z.enum(['binary', 'ascii-hex']).default('ascii-hex'),
    /** Bytes the checksum covers. */
    checksumCovers: z.enum(['payload', 'payload-etx', 'stx-payload-etx']).default('payload'),
    maxLength: z.number().int().min(8).max(65536).default(1024),
  })
  .strict();

export const fixedFramingSchema = z
  .object({
    kind: z.literal('fixed'),
    /** Bytes every record starts with; the framer resynchronises on them. */
    sync: hexBytes,
    /** Whole record length in bytes, sync and checksum included. */
    length: z.number().int().min(2).max(4096),
    checksum: z.enum(checksumKinds).default('none'),
    /** Checksum covers bytes [from, to) of the record and sits at `to` (binary; CRC-16 per its byte order). */
    checksumFrom: z.number().int().min(0).default(0),
    checksumTo: z.number().int().min(1).optional(),
  })
  .strict();

export const framingSchema = z.discriminatedUnion('kind', [lineFramingSchema, stxEtxFramingSchema, fixedFramingSchema]);

// --- record grammar: how a frame's payload becomes named text fields ---------------------------

export const regexRecordSchema = z
  .object({
    kind: z.literal('regex'),
    /** JavaScript regular expression with named groups; each group is a field. Anchor it. */
    pattern: z.string().min(1),
  })
  .strict()
  .superRefine((r, ctx) => {
    try {
      new RegExp(r.pattern);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

export const keyValueRecordSchema = z
  .object({
    kind: z.literal('key-value'),
    /** Between pairs; the default splits on runs of white space. */
    pairSeparator: z.string().min(1).optional(),
    keyValueSeparator: z.string().min(1).default('='),
  })
  .strict();

export const columnsRecordSchema = z
  .object({
    kind: z.literal('columns'),
    /** With a separator columns are split fields (index); without one they are fixed character ranges (start, length). */
    separator: z.string().min(1).optional(),
    columns: z
      .array(
        z
          .object({
            name: z.string().min(1),
            index: z.number().int().min(0).optional(),
            start: z.number().int().min(0).optional(),
            length: z.number().int().min(1).optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict()
  .superRefine((r, ctx) => {
    r.columns.forEach((c, i) => {
      const ok = r.separator !== undefined ? c.index !== undefined : c.start !== undefined && c.length !== undefined;
      if (!ok) {
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i],
          message: r.separator !== undefined ? 'a separated column needs "index"' : 'a fixed column needs "start" and "length"',
        });
      }
    });
  });

export const BinaryFieldType = {
  u8: 'u8',
  i8: 'i8',
  u16be: 'u16be',
  u16le: 'u16le',
  i16be: 'i16be',
  i16le: 'i16le',
  u32be: 'u32be',
  u32le: 'u32le',
  /** One packed BCD byte, 00–99 (device clocks). */
  bcd8: 'bcd8',
} as const;
export type BinaryFieldType = (typeof BinaryFieldType)[keyof typeof BinaryFieldType];

export const binaryRecordSchema = z
  .object({
    kind: z.literal('binary'),
    /** Offsets are into the whole frame (sync bytes included for fixed framing, the payload for STX/ETX). */
    fields: z
      .array(
        z
          .object({
            name: z.string().min(1),
            offset: z.number().int().min(0),
            type: z.enum(Object.values(BinaryFieldType) as [BinaryFieldType, ...BinaryFieldType[]]),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export const recordSchema = z.discriminatedUnion('kind', [regexRecordSchema, keyValueRecordSchema, columnsRecordSchema, binaryRecordSchema]);

// --- meaning: fields → metrics ------------------------------------------------------------------

const specialValueSchema = z.enum(SPECIAL_VALUES as [SpecialValue, ...SpecialValue[]]);

export const fieldMappingSchema = z
  .object({
    /** Field name from the record grammar. */
    field: z.string().min(1),
    /** Metric id from gateway/catalog.ts. */
    metric: z.string().min(1),
    /** Unit the value is in after scaling, as the catalog accepts it (`mmHg`, `Cel`, `[degF]`, `kg`, …). */
    unit: z.string().min(1).optional(),
    /** Or: a field carrying the unit, mapped through `unitMap` (device text → catalog unit). */
    unitField: z.string().min(1).optional(),
    unitMap: z.record(z.string(), z.string().min(1)).optional(),
    /** value = raw × scale + offset (binary tenths: scale 0.1). */
    scale: z.number().positive().default(1),
    offset: z.number().default(0),
    /** Text allowed after the number (e.g. `%`, `kg`); anything else is a field error. */
    suffix: z.string().optional(),
    /** A field absent from the record is skipped instead of refused. */
    optional: z.boolean().default(false),
  })
  .strict()
  .superRefine((f, ctx) => {
    if ((f.unit === undefined) === (f.unitField === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['unit'], message: 'give exactly one of "unit" or "unitField"' });
    }
    if (f.unitField !== undefined && f.unitMap === undefined) {
      ctx.addIssue({ code: 'custom', path: ['unitMap'], message: '"unitField" needs a "unitMap" (device text → catalog unit)' });
    }
  });

/** A raw field text that means "no measurement" (`---`, `0`, `FFFF`): it becomes an IEEE-11073 special value, never a number. */
export const specialMarkerSchema = z
  .object({
    /** Exact raw text after trimming (binary fields: the integer as decimal text, e.g. "65535"). */
    match: z.string(),
    value: specialValueSchema,
    /** Only these fields; default: every mapped field. */
    fields: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** A known firmware bug: the unit the device claims is wrong (e.g. "labels kPa but sends mmHg"). */
export const unitOverrideSchema = z
  .object({
    field: z.string().min(1),
    from: z.string().min(1),
    to: z.string().min(1),
    reason: z.string().min(1),
  })
  .strict();

export const TimeFormat = {
  /** ISO 8601 with or without offset. */
  iso8601: 'iso8601',
  /** `MM/dd/yy HH:mm:ss` (Masimo ASCII output). */
  usDateTime: 'MM/dd/yy HH:mm:ss',
  /** `yyyy-MM-dd HH:mm:ss`. */
  dateTime: 'yyyy-MM-dd HH:mm:ss',
  /** `yyMMddHHmm` (ten digits, thermometer/scale printers). */
  compact: 'yyMMddHHmm',
  /** Separate binary fields year (2000+), month, day, hour, minute[, second], named in `fields`. */
  parts: 'parts',
  /** Seconds since 1970-01-01T00:00:00Z. */
  epochS: 'epoch-s',
} as const;
export type TimeFormat = (typeof TimeFormat)[keyof typeof TimeFormat];

export const deviceTimeSchema = z
  .object({
    /** The field holding the time; for `parts` the fields year, month, day, hour, minute[, second] in that order. */
    fields: z.array(z.string().min(1)).min(1).max(6),
    format: z.enum(Object.values(TimeFormat) as [TimeFormat, ...TimeFormat[]]),
    /** Offset of the device clock when the text has none (`+01:00`, `Z`). */
    utcOffset: z
      .string()
      .regex(/^(Z|[+-]\d\d:\d\d)$/, 'Z or ±hh:mm')
      .default('Z'),
    /**
     * `trusted`: the device time becomes Reading.deviceTime (normalize still applies clock.skewToleranceSeconds:
     * a drifted clock is kept as an extension and gateway time is used). `ignore`: the clock is known to be
     * useless (resets to 2000-01-01 without a battery); gateway receive time is used.
     */
    trust: z.enum(['trusted', 'ignore']).default('trusted'),
  })
  .strict();

export const acknowledgementSchema = z
  .object({
    /** Sent after the reading is durable (ASCII ACK 0x06 in most serial protocols). */
    ack: hexBytes,
    /** Sent after a frame the gateway could not take (bad checksum, refused, buffer full). */
    nak: hexBytes,
  })
  .strict();

/** What a profile's test expects a captured frame or payload to become (serial, mqtt and ble profiles alike). */
const expectedReadingSchema = z
  .object({
    components: z
      .array(z.object({ metric: z.string(), value: z.union([z.number(), specialValueSchema]), unit: z.string() }).strict())
      .min(1),
    deviceTime: z.string().optional(),
  })
  .strict();

/** `tests:` entries: a frame as on the wire and what it must decode to. */
export const profileTestSchema = z
  .object({
    /** The frame as text (YAML escapes `\x02`, `\r` work in double quotes) or as hex bytes. */
    frame: z.union([z.object({ text: z.string() }).strict(), z.object({ hex: hexBytes }).strict()]),
    expect: z.union([
      expectedReadingSchema,
      /** The record is valid but carries no measurement to submit (unstable weight, status line). */
      z.object({ skipped: z.literal(true) }).strict(),
    ]),
  })
  .strict();

/** Only records whose `field` is one of `in` carry a measurement (A&D `ST` stable vs `US` unstable). */
export const recordFilterSchema = z
  .object({
    field: z.string().min(1),
    in: z.array(z.string()).min(1),
  })
  .strict();

/** A firmware version range: comparators joined by spaces (`>=1.0 <2.1`), `*` for any. */
export const firmwareRangeSchema = z
  .string()
  .regex(/^(\*|(?:(?:>=|<=|>|<|=)?\d+(?:\.\d+){0,2})(?:\s+(?:>=|<=|>|<|=)?\d+(?:\.\d+){0,2})*)$/, 'a range such as "*", ">=1.0 <2.1" or "=3.2"');

/** Keys every profile has, whatever its transport. */
const profileHeader = {
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, dot, dash, underscore (1–64)'),
  /** What real device family and format this follows, and how faithfully. */
  doc: z.string().min(1),
  manufacturer: z.string().min(1),
  model: z.string().min(1),
  firmware: firmwareRangeSchema,
};

/** A serial profile, fully resolved (after `extends`). */
export const serialProfileSchema = z
  .object({
    ...profileHeader,
    transport: transportSchema,
    framing: framingSchema,
    record: recordSchema,
    filter: recordFilterSchema.optional(),
    fields: z.array(fieldMappingSchema).min(1),
    specialValues: z.array(specialMarkerSchema).default([]),
    unitOverrides: z.array(unitOverrideSchema).default([]),
    deviceTime: deviceTimeSchema.optional(),
    acknowledge: acknowledgementSchema.optional(),
    tests: z.array(profileTestSchema).default([]),
  })
  .strict();

// --- mqtt: a vendor's JSON payload → metrics ------------------------------------------------------

/** `measurements.sys`, `readings[0].value`, `data["blood pressure"].sys`: object keys by dot or bracket, array items by [index]. */
export const jsonPathSchema = z
  .string()
  .min(1)
  .max(256)
  .superRefine((path, ctx) => {
    const parsed = parseJsonPath(path);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.reason });
  });

const jsonScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const jsonFieldMappingSchema = z
  .object({
    /** Where the value sits in the payload; it must be a JSON number (or one of `special`). */
    path: jsonPathSchema,
    /** Metric id from gateway/catalog.ts. */
    metric: z.string().min(1),
    /** Unit the value is in after scaling, as the catalog accepts it. */
    unit: z.string().min(1).optional(),
    /** Or: where the payload carries the unit text; mapped through `unitMap` when given, else taken as is. */
    unitPath: jsonPathSchema.optional(),
    unitMap: z.record(z.string(), z.string().min(1)).optional(),
    /** value = raw × scale + offset. */
    scale: z.number().positive().default(1),
    offset: z.number().default(0),
    /**
     * Raw values meaning "no measurement" (`0`, `"---"`, `null`): they become NaN, never a number; or
     * `{ match, value }` for another IEEE-11073 special value (`NRes`, `+INF`, `-INF`).
     */
    special: z.array(z.union([jsonScalar, z.object({ match: jsonScalar, value: specialValueSchema }).strict()])).default([]),
    /** A path absent from the payload is skipped instead of refused. */
    optional: z.boolean().default(false),
  })
  .strict()
  .superRefine((f, ctx) => {
    if ((f.unit === undefined) === (f.unitPath === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['unit'], message: 'give exactly one of "unit" or "unitPath"' });
    }
    if (f.unitMap !== undefined && f.unitPath === undefined) {
      ctx.addIssue({ code: 'custom', path: ['unitMap'], message: '"unitMap" applies to "unitPath" only' });
    }
  });

/** The time formats a JSON payload can carry: the serial names where they mean the same, plus epoch-ms. */
export const JsonTimeFormat = {
  /** A string, ISO 8601 with or without offset (without: `utcOffset`); a fraction of a second is dropped. */
  iso8601: TimeFormat.iso8601,
  /** A number, seconds since 1970-01-01T00:00:00Z. */
  epochS: TimeFormat.epochS,
  /** A number, milliseconds since 1970-01-01T00:00:00Z. */
  epochMs: 'epoch-ms',
} as const;
export type JsonTimeFormat = (typeof JsonTimeFormat)[keyof typeof JsonTimeFormat];

export const jsonMappingSchema = z
  .object({
    fields: z.array(jsonFieldMappingSchema).min(1),
    /** When declared, the payload must carry it; without it the gateway's receive time is used. */
    deviceTime: z
      .object({
        path: jsonPathSchema,
        format: z.enum(Object.values(JsonTimeFormat) as [JsonTimeFormat, ...JsonTimeFormat[]]),
        utcOffset: z
          .string()
          .regex(/^(Z|[+-]\d\d:\d\d)$/, 'Z or ±hh:mm')
          .default('Z'),
      })
      .strict()
      .optional(),
    /** The device's own counter (integer 0–2³²−1): Reading context.sequence, echoed on rpm/<id>/error. */
    sequence: z.object({ path: jsonPathSchema }).strict().optional(),
  })
  .strict();

/** `tests:` of an mqtt profile: a payload as the vendor sends it and what it must map to. */
export const mqttProfileTestSchema = z
  .object({
    payload: z.record(z.string(), z.unknown()),
    expect: expectedReadingSchema,
  })
  .strict();

/** An mqtt profile, fully resolved: a vendor's JSON payload mapped onto readings, so a vendor bridge needs no code. */
export const mqttProfileSchema = z
  .object({
    ...profileHeader,
    transport: mqttSettingsSchema,
    json: jsonMappingSchema,
    tests: z.array(mqttProfileTestSchema).default([]),
  })
  .strict();

// --- ble: the standard GATT health profiles decode the bytes; a profile holds a model's quirks ----------

export const bleSettingsSchema = z
  .object({
    kind: z.literal('ble'),
    /** Pair (bond) before subscribing: the device refuses its measurements without an encrypted link. */
    requiresPairing: z.boolean().default(false),
    /** Write Current Time 0x2A2B on every connection when the device has it (off for devices that reset on a write). */
    writeCurrentTime: z.boolean().default(true),
    clock: z
      .object({
        /** false: the device's time stamps are known to be useless (clock not kept); gateway receive time is used. */
        trust: z.boolean().default(true),
        /** Offset of the device's Date Time fields when it does not keep the hub's local time. */
        utcOffsetMinutes: z.number().int().min(-720).max(840).optional(),
      })
      .strict()
      .default({ trust: true }),
  })
  .strict();

/** `tests:` of a ble profile: a captured characteristic value and what it must decode to. */
export const bleProfileTestSchema = z
  .object({
    /** Characteristic UUID, 16-bit (`2a35`) or 128-bit. */
    characteristic: z.string().min(1),
    hex: hexBytes,
    expect: expectedReadingSchema,
  })
  .strict();

export const bleProfileSchema = z
  .object({
    ...profileHeader,
    transport: bleSettingsSchema,
    tests: z.array(bleProfileTestSchema).default([]),
  })
  .strict();

export type SerialFirmwareProfile = z.infer<typeof serialProfileSchema>;
export type MqttFirmwareProfile = z.infer<typeof mqttProfileSchema>;
export type BleFirmwareProfile = z.infer<typeof bleProfileSchema>;
export type FirmwareProfile = SerialFirmwareProfile | MqttFirmwareProfile | BleFirmwareProfile;
export type Framing = SerialFirmwareProfile['framing'];
export type RecordGrammar = SerialFirmwareProfile['record'];
export type FieldMapping = SerialFirmwareProfile['fields'][number];
export type ProfileTest = SerialFirmwareProfile['tests'][number];
export type JsonMapping = MqttFirmwareProfile['json'];
export type JsonFieldMapping = JsonMapping['fields'][number];
export type MqttProfileTest = MqttFirmwareProfile['tests'][number];

export const isSerialProfile = (p: FirmwareProfile): p is SerialFirmwareProfile => p.transport.kind === 'serial';
export const isMqttProfile = (p: FirmwareProfile): p is MqttFirmwareProfile => p.transport.kind === 'mqtt';
export const isBleProfile = (p: FirmwareProfile): p is BleFirmwareProfile => p.transport.kind === 'ble';

/**
 * Validate a resolved profile against its transport's schema (`transport: mqtt` is short for `{ kind: mqtt }`).
 * Anything but an mqtt transport is checked as serial, so an unknown kind is named as such.
 */
export function parseFirmwareProfile(raw: unknown): z.ZodSafeParseResult<FirmwareProfile> {
  const input = typeof raw === 'object' && raw !== null && (raw as { transport?: unknown }).transport === 'mqtt' ? { ...raw, transport: { kind: 'mqtt' } } : raw;
  const kind = (input as { transport?: { kind?: unknown } } | null)?.transport?.kind;
  if (kind === 'ble') return bleProfileSchema.safeParse(input);
  return kind === 'mqtt' ? mqttProfileSchema.safeParse(input) : serialProfileSchema.safeParse(input);
}

/** A profile file as written: `extends` names a parent whose keys this file overrides. */
export const profileFileSchema = z.object({ id: z.string(), extends: z.string().optional() }).passthrough();
