// Bluetooth SIG assigned numbers used by the gateway (Assigned Numbers §3.4 GATT Services,
// §3.8 Characteristics), as canonical 128-bit lowercase UUIDs (Core Spec Vol 3 Part B §2.5.1 base UUID).
import { issue } from '../../../gateway/errors.ts';
import type { Result } from '../../../gateway/types.ts';

const BASE_SUFFIX = '-0000-1000-8000-00805f9b34fb';
const SHORT = /^(?:0x)?([0-9a-f]{4}|[0-9a-f]{8})$/;
const LONG = /^([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/;

/** 16-bit ('2a35', '0x2A35'), 32-bit or 128-bit → canonical 128-bit lowercase; not a UUID → an issue. */
export function parseUuid(uuid: string): Result<string> {
  const s = uuid.trim().toLowerCase();
  const short = SHORT.exec(s);
  if (short) return { ok: true, value: `${short[1]!.padStart(8, '0')}${BASE_SUFFIX}` };
  const long = LONG.exec(s);
  if (long) return { ok: true, value: long.slice(1).join('-') };
  return { ok: false, issues: [issue('GW_ERR_BLE_BAD_UUID', 'uuid', uuid)] };
}

/** 16-bit ('2a35', '0x2A35') or 128-bit → canonical 128-bit lowercase. A string that is no UUID comes back trimmed and lowercased (it then matches nothing). */
export function normalizeUuid(uuid: string): string {
  const parsed = parseUuid(uuid);
  return parsed.ok ? parsed.value : uuid.trim().toLowerCase();
}

const u = (short: string): string => `0000${short}${BASE_SUFFIX}`;

export const SERVICE = {
  genericAccess: u('1800'),
  currentTime: u('1805'),
  glucose: u('1808'),
  healthThermometer: u('1809'),
  deviceInformation: u('180a'),
  heartRate: u('180d'),
  bloodPressure: u('1810'),
  bodyComposition: u('181b'),
  weightScale: u('181d'),
  pulseOximeter: u('1822'),
} as const;

export const CHARACTERISTIC = {
  // Device Information Service 0x180A: identity and firmware profile selection
  systemId: u('2a23'),
  modelNumber: u('2a24'),
  serialNumber: u('2a25'),
  firmwareRevision: u('2a26'),
  hardwareRevision: u('2a27'),
  softwareRevision: u('2a28'),
  manufacturerName: u('2a29'),
  // Time
  dateTime: u('2a08'),
  currentTime: u('2a2b'),
  // Measurements
  glucoseMeasurement: u('2a18'),
  temperatureMeasurement: u('2a1c'),
  temperatureType: u('2a1d'),
  glucoseMeasurementContext: u('2a34'),
  bloodPressureMeasurement: u('2a35'),
  intermediateCuffPressure: u('2a36'),
  heartRateMeasurement: u('2a37'),
  bloodPressureFeature: u('2a49'),
  glucoseFeature: u('2a51'),
  racp: u('2a52'),
  plxSpotCheck: u('2a5e'),
  plxContinuous: u('2a5f'),
  plxFeatures: u('2a60'),
  bodyCompositionMeasurement: u('2a9c'),
  weightMeasurement: u('2a9d'),
  weightScaleFeature: u('2a9e'),
} as const;

/** Health services to scan for and their measurement characteristics (property per each profile spec). */
export const HEALTH_SERVICES: ReadonlyArray<{
  service: string;
  name: string;
  characteristics: ReadonlyArray<{ uuid: string; name: string; property: 'indicate' | 'notify' }>;
}> = [
  {
    service: SERVICE.bloodPressure,
    name: 'Blood Pressure',
    characteristics: [
      { uuid: CHARACTERISTIC.bloodPressureMeasurement, name: 'Blood Pressure Measurement', property: 'indicate' }, // BLS 1.1 §3.1
      { uuid: CHARACTERISTIC.intermediateCuffPressure, name: 'Intermediate Cuff Pressure', property: 'notify' }, // BLS 1.1 §3.2
    ],
  },
  {
    service: SERVICE.heartRate,
    name: 'Heart Rate',
    characteristics: [{ uuid: CHARACTERISTIC.heartRateMeasurement, name: 'Heart Rate Measurement', property: 'notify' }], // HRS 1.0 §3.1
  },
  {
    service: SERVICE.healthThermometer,
    name: 'Health Thermometer',
    characteristics: [{ uuid: CHARACTERISTIC.temperatureMeasurement, name: 'Temperature Measurement', property: 'indicate' }], // HTS 1.0 §3.1
  },
  {
    service: SERVICE.weightScale,
    name: 'Weight Scale',
    characteristics: [{ uuid: CHARACTERISTIC.weightMeasurement, name: 'Weight Measurement', property: 'indicate' }], // WSS 1.0 §3.2
  },
  {
    service: SERVICE.bodyComposition,
    name: 'Body Composition',
    characteristics: [{ uuid: CHARACTERISTIC.bodyCompositionMeasurement, name: 'Body Composition Measurement', property: 'indicate' }], // BCS 1.0 §3.2
  },
  {
    service: SERVICE.pulseOximeter,
    name: 'Pulse Oximeter',
    characteristics: [
      { uuid: CHARACTERISTIC.plxSpotCheck, name: 'PLX Spot-Check Measurement', property: 'indicate' }, // PLXS 1.0 §3.1
      { uuid: CHARACTERISTIC.plxContinuous, name: 'PLX Continuous Measurement', property: 'notify' }, // PLXS 1.0 §3.2
    ],
  },
  {
    service: SERVICE.glucose,
    name: 'Glucose',
    characteristics: [
      { uuid: CHARACTERISTIC.glucoseMeasurement, name: 'Glucose Measurement', property: 'notify' }, // GLS 1.0 §3.1
      { uuid: CHARACTERISTIC.glucoseMeasurementContext, name: 'Glucose Measurement Context', property: 'notify' }, // GLS 1.0 §3.2
    ],
  },
];
