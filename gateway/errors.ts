// The one error registry (CONVENTIONS 5). Retry logic keys off `retry`, never off message text.
// Message templates use %s placeholders filled in order.
import { format } from 'node:util';
import type { Issue } from './types.ts';

export const RetryClass = {
  /** Nothing happened at the receiver; try again later. */
  transient: 'transient',
  /** The receiver may have stored it (ACK timeout): retry with the same control id. */
  ambiguous: 'ambiguous',
  /** Retrying cannot help: refuse / dead-letter. */
  permanent: 'permanent',
} as const;
export type RetryClass = (typeof RetryClass)[keyof typeof RetryClass];

interface ErrorSpec {
  message: string;
  status: number;
  retry: RetryClass;
}

const spec = (message: string, status: number, retry: RetryClass): ErrorSpec => ({ message, status, retry });

export const errorRegistry = {
  // Intake: bad input from a device or the kiosk
  GW_ERR_MALFORMED_BODY: spec('request body is not valid JSON: %s', 400, 'permanent'),
  GW_ERR_BODY_TOO_LARGE: spec('request body exceeds %s bytes', 413, 'permanent'),
  GW_ERR_INVALID_READING: spec('%s', 400, 'permanent'),
  GW_ERR_UNKNOWN_METRIC: spec('unknown metric "%s"; known metrics: %s', 400, 'permanent'),
  GW_ERR_UNIT_NOT_ACCEPTED: spec('unit "%s" is not accepted for %s; accepted: %s', 400, 'permanent'),
  GW_ERR_OUT_OF_RANGE: spec('%s value %s %s is outside the plausible range %s–%s %s', 400, 'permanent'),
  GW_ERR_SPECIAL_VALUE: spec('%s carries the IEEE-11073 special value %s, not a measurement', 400, 'permanent'),
  GW_ERR_NON_FINITE_VALUE: spec('%s value %s is not a finite number (IEEE-11073 special values travel by name, e.g. "NaN")', 400, 'permanent'),
  GW_ERR_IMPLAUSIBLE_PANEL: spec('%s %s %s must be greater than %s %s %s', 400, 'permanent'),
  GW_ERR_DUPLICATE_METRIC: spec('metric "%s" appears more than once in one reading', 400, 'permanent'),
  GW_ERR_INCOMPLETE_PANEL: spec('%s needs %s in the same reading', 400, 'permanent'),
  GW_ERR_BAD_TIME: spec('%s is not an ISO 8601 date-time with offset: "%s"', 400, 'permanent'),
  GW_ERR_PROFILE_INVALID: spec('Observation fails FHIR profile %s: %s', 400, 'permanent'),
  GW_ERR_NO_OBSERVATION: spec('reading produced no Observation: every component was refused', 400, 'permanent'),
  // Buffer
  GW_ERR_BUFFER_FULL: spec('buffer is at its high-water mark (%s of %s bytes); intake refused until the backlog drains', 503, 'transient'),
  GW_ERR_BUFFER_CLOSED: spec('buffer is not open', 503, 'transient'),
  GW_ERR_BUFFER_IO: spec('buffer write failed: %s', 503, 'transient'),
  GW_ERR_BUFFER_KEY: spec('GW_BUFFER_KEY must be 32 bytes as 64 hex characters or base64: %s', 500, 'permanent'),
  GW_ERR_BUFFER_DECRYPT: spec('buffer record %s cannot be decrypted with the configured key', 500, 'permanent'),
  GW_ERR_BUFFER_WRONG_KEY: spec('the buffer at %s was sealed with a different GW_BUFFER_KEY', 500, 'permanent'),
  GW_ERR_BUFFER_FORMAT: spec('the database at %s %s', 500, 'permanent'),
  // Configuration
  GW_ERR_CONFIG_INVALID: spec('invalid configuration: %s', 500, 'permanent'),
  GW_ERR_CONFIG_READ: spec('cannot read configuration file %s: %s', 500, 'permanent'),
  GW_ERR_CONFIG_SECRET: spec('secret %s: %s', 500, 'permanent'),
  // HL7 v2 / MLLP
  GW_ERR_HL7_BUILD: spec('cannot build HL7 message from Observation %s: %s', 500, 'permanent'),
  GW_ERR_MLLP_CONNECT: spec('cannot connect to MLLP receiver %s: %s', 503, 'transient'),
  GW_ERR_MLLP_CLOSED: spec('MLLP connection closed before the ACK for %s', 503, 'ambiguous'),
  GW_ERR_MLLP_ACK_TIMEOUT: spec('no ACK for %s within %s ms', 504, 'ambiguous'),
  GW_ERR_MLLP_ACK_MALFORMED: spec('malformed ACK for %s: %s', 502, 'ambiguous'),
  GW_ERR_MLLP_ACK_MISMATCH: spec('ACK MSA-2 "%s" does not match sent MSH-10 "%s"', 502, 'ambiguous'),
  GW_ERR_MLLP_ACK_ERROR: spec('receiver answered %s for %s: %s', 502, 'transient'),
  GW_ERR_MLLP_ACK_REJECT: spec('receiver rejected %s with %s: %s', 422, 'permanent'),
  GW_ERR_MLLP_FRAME_TOO_LARGE: spec('MLLP frame exceeds %s bytes', 502, 'ambiguous'),
  GW_ERR_MLLP_NOT_SENT: spec('message %s was not sent: %s', 503, 'transient'),
  GW_ERR_MLLP_TLS: spec('TLS with MLLP receiver %s failed: %s', 503, 'transient'),
  GW_ERR_MLLP_TLS_CONFIG: spec('MLLP destination %s TLS setting %s: %s', 500, 'permanent'),
  // FHIR destination (ehr-bridge/fhir)
  GW_ERR_FHIR_NETWORK: spec('cannot reach FHIR server %s: %s', 503, 'ambiguous'),
  GW_ERR_FHIR_TIMEOUT: spec('no answer from FHIR server %s within %s ms', 504, 'ambiguous'),
  GW_ERR_FHIR_HTTP: spec('FHIR server %s answered HTTP %s: %s', 503, 'transient'),
  GW_ERR_FHIR_RATE_LIMITED: spec('FHIR server %s answered HTTP %s; retry after %s ms', 429, 'transient'),
  GW_ERR_FHIR_RESPONSE: spec('FHIR server %s sent an unusable response: %s', 502, 'ambiguous'),
  GW_ERR_FHIR_ENTRY_REJECTED: spec('FHIR server refused %s with %s: %s', 422, 'permanent'),
  GW_ERR_FHIR_ENTRY_ERROR: spec('FHIR server could not process %s: %s', 503, 'transient'),
  GW_ERR_FHIR_NOT_SENT: spec('%s was not sent: %s', 503, 'transient'),
  GW_ERR_FHIR_AUTH: spec('FHIR authorization at %s failed: %s', 401, 'transient'),
  GW_ERR_FHIR_CONFIG: spec('FHIR destination %s setting %s: %s', 500, 'permanent'),
  // Serial transport and record decoding (device-drivers/serial)
  GW_ERR_SERIAL_FRAME_TOO_LONG: spec('frame exceeds %s bytes without its end; %s bytes dropped until the next frame', 400, 'permanent'),
  GW_ERR_SERIAL_GARBAGE: spec('%s bytes outside any frame dropped', 400, 'permanent'),
  GW_ERR_SERIAL_CUT_FRAME: spec('frame cut off after %s bytes: a new start byte arrived before its end', 400, 'permanent'),
  GW_ERR_SERIAL_CHECKSUM: spec('%s checksum mismatch: frame carries %s, computed %s', 400, 'transient'),
  GW_ERR_SERIAL_PORT: spec('serial port %s: %s', 503, 'transient'),
  GW_ERR_RECORD_MISMATCH: spec('record does not match profile %s: %s', 400, 'permanent'),
  GW_ERR_RECORD_FIELD: spec('field "%s": %s', 400, 'permanent'),
  // Bluetooth LE GATT decoding (device-drivers/ble/gatt)
  GW_ERR_BLE_FRAME_SHORT: spec('%s: %s needs %s byte(s) at offset %s but the value has %s', 400, 'permanent'),
  GW_ERR_BLE_RESERVED_VALUE: spec('%s: %s has the reserved value %s', 400, 'permanent'),
  GW_ERR_BLE_UNKNOWN_CHARACTERISTIC: spec('characteristic %s is not a health measurement the gateway decodes; known: %s', 400, 'permanent'),
  GW_ERR_BLE_BAD_UUID: spec('"%s" is not a Bluetooth UUID (16-bit like 2a35 / 0x2A35, or 128-bit)', 400, 'permanent'),
  GW_ERR_BLE_NO_CONTACT: spec('%s: the sensor reports no skin contact; the heart rate is not a measurement', 400, 'permanent'),
  GW_ERR_BLE_MEASUREMENT_UNSUCCESSFUL: spec('%s: the device marks the measurement unsuccessful (%s)', 400, 'permanent'),
  GW_ERR_BLE_MEASUREMENT_STATUS: spec('%s refused by its status bits: %s', 400, 'permanent'),
  GW_ERR_BLE_CONTROL_SOLUTION: spec('glucose record %s is a control-solution test, not a patient sample', 400, 'permanent'),
  GW_ERR_BLE_RACP: spec('Record Access Control Point value %s: %s', 400, 'permanent'),
  // Bluetooth LE central (device-drivers/ble/central): BlueZ over D-Bus
  GW_ERR_BLE_ADAPTER: spec('Bluetooth adapter %s: %s', 503, 'transient'),
  GW_ERR_BLE_CONNECT: spec('BLE device %s: connect failed: %s', 503, 'transient'),
  GW_ERR_BLE_PAIR: spec('BLE device %s: pairing failed: %s', 503, 'transient'),
  GW_ERR_BLE_GATT: spec('BLE device %s: %s failed: %s', 503, 'transient'),
  GW_ERR_BLE_PROFILE: spec('BLE device %s: %s', 400, 'permanent'),
  // Firmware profiles (gateway/profiles)
  GW_ERR_FIRMWARE_PROFILE_UNKNOWN: spec('unknown firmware profile "%s"', 400, 'permanent'),
  GW_ERR_FIRMWARE_PROFILE_INVALID: spec('%s', 500, 'permanent'),
  GW_ERR_FIRMWARE_PROFILE_TEST: spec('%s', 500, 'permanent'),
  GW_ERR_FIRMWARE_RANGE_OVERLAP: spec('%s', 500, 'permanent'),
  // MQTT devices (device-drivers/mqtt)
  GW_ERR_MQTT_BAD_CREDENTIALS: spec('MQTT client "%s" gave an unknown user name or a wrong password', 401, 'permanent'),
  GW_ERR_MQTT_CERT_UNKNOWN: spec('TLS client certificate CN "%s" names no configured device', 401, 'permanent'),
  GW_ERR_MQTT_NOT_AUTHORIZED: spec('%s may not %s %s', 403, 'permanent'),
  GW_ERR_MQTT_TOPIC: spec('topic "%s" is not a gateway topic: %s', 400, 'permanent'),
  GW_ERR_MQTT_PAYLOAD_TOO_LARGE: spec('payload of %s bytes exceeds %s bytes', 413, 'permanent'),
  GW_ERR_MQTT_PAYLOAD_ENCODING: spec('payload is not UTF-8 JSON: %s', 400, 'permanent'),
  GW_ERR_MQTT_DEVICE_MISMATCH: spec('payload deviceId "%s" differs from the topic device "%s"', 400, 'permanent'),
  GW_ERR_MQTT_PASSWORD_HASH: spec('not a password hash made by `gw hash-password` (scrypt$N$r$p$salt$hash): %s', 500, 'permanent'),
  GW_ERR_MQTT_LISTEN: spec('MQTT %s listener cannot start on %s: %s', 500, 'permanent'),
  GW_ERR_MQTT_UPSTREAM: spec('upstream MQTT broker %s: %s', 503, 'transient'),
  GW_ERR_MQTT_UPSTREAM_TIMEOUT: spec('no PUBACK for %s within %s ms', 504, 'ambiguous'),
  GW_ERR_MQTT_UPSTREAM_REFUSED: spec('upstream broker refused %s with PUBACK reason code %s', 422, 'permanent'),
  // Kiosk visits and live vitals (device-drivers/kiosk)
  GW_ERR_INVALID_VISIT: spec('%s', 400, 'permanent'),
  GW_ERR_VISIT_CONFLICT: spec('kiosk %s already has open visit %s', 409, 'permanent'),
  GW_ERR_VISIT_MISMATCH: spec('%s', 409, 'permanent'),
  GW_ERR_BAD_LAST_EVENT_ID: spec('Last-Event-ID "%s" is not a buffer sequence number', 400, 'permanent'),
  // ADT listener and patient roster (ehr-bridge/hl7v2/adt-*, gateway/roster*)
  GW_ERR_ADT_REJECTED: spec('ADT message rejected (HL7 table 0357 code %s): %s', 400, 'permanent'),
  GW_ERR_ADT_NOT_APPLIED: spec('ADT message not applied (HL7 table 0357 code %s): %s', 422, 'permanent'),
  GW_ERR_ADT_FRAME: spec('bytes outside any MLLP frame on the ADT listener: %s', 400, 'permanent'),
  GW_ERR_ADT_LISTEN: spec('ADT MLLP listener cannot start on %s: %s', 500, 'permanent'),
  GW_ERR_PATIENT_UNKNOWN: spec('patient %s is not in the roster', 404, 'permanent'),
  GW_ERR_QUARANTINE_RESOLVE: spec('quarantined reading %s cannot be resolved: %s', 409, 'permanent'),
  // Audit trail (gateway/audit)
  GW_ERR_AUDIT_CHAIN_BROKEN: spec('audit record %s is broken: %s', 500, 'permanent'),
  GW_ERR_AUDIT_WRITE: spec('audit records could not be written: %s', 503, 'transient'),
  // HTTP / admin
  GW_ERR_UNAUTHORIZED: spec('admin API needs a valid bearer token', 401, 'permanent'),
  GW_ERR_NOT_FOUND: spec('%s not found', 404, 'permanent'),
  // Access control (gateway/http/auth): accounts, sessions, roles, kiosk intake tokens
  GW_ERR_FORBIDDEN: spec('%s needs the role %s; %s has %s', 403, 'permanent'),
  GW_ERR_CSRF: spec('a request authenticated by the session cookie must carry its x-csrf-token header: %s', 403, 'permanent'),
  GW_ERR_LOGIN_FAILED: spec('unknown user name or wrong password', 401, 'permanent'),
  GW_ERR_LOGIN_THROTTLED: spec('too many failed logins from this %s; try again in %s s', 429, 'transient'),
  GW_ERR_INVALID_USER: spec('%s', 400, 'permanent'),
  GW_ERR_USER_EXISTS: spec('user "%s" exists already', 409, 'permanent'),
  GW_ERR_KIOSK_UNAUTHORIZED: spec('kiosk intake %s', 401, 'permanent'),
  GW_ERR_INVALID_REQUEST: spec('%s', 400, 'permanent'),
  GW_ERR_USER_STORE_LOCKED: spec('the buffer at %s is in use by a running gateway (LevelDB lock); %s', 409, 'transient'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorRegistry;

export function errorMessage(code: ErrorCode, ...args: unknown[]): string {
  return format(errorRegistry[code].message, ...args.map(String));
}

export function retryClassOf(code: string): RetryClass {
  return code in errorRegistry ? errorRegistry[code as ErrorCode].retry : 'permanent';
}

export function httpStatusOf(code: string): number {
  return code in errorRegistry ? errorRegistry[code as ErrorCode].status : 500;
}

/** An expected failure as a value (CONVENTIONS 6). */
export function issue(code: ErrorCode, path: string | undefined, ...args: unknown[]): Issue {
  return path === undefined
    ? { code, message: errorMessage(code, ...args) }
    : { code, message: errorMessage(code, ...args), path };
}

/** Thrown for broken infrastructure and bad configuration only; expected failures are values. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly retry: RetryClass;
  readonly status: number;
  readonly issues: Issue[];

  constructor(code: ErrorCode, args: unknown[] = [], options?: { cause?: unknown; issues?: Issue[] }) {
    super(errorMessage(code, ...args), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.retry = errorRegistry[code].retry;
    this.status = errorRegistry[code].status;
    this.issues = options?.issues ?? [];
  }
}
