// Prometheus metrics (prom-client), one registry per gateway instance so tests can run several.
// Names follow Prometheus conventions: units in the name, `_total` for counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BufferStats } from './buffer/types.ts';

export interface GatewayMetrics {
  registry: Registry;
  readingsReceived: Counter<'transport'>;
  readingsRefused: Counter<'transport' | 'reason'>;
  readingsQuarantined: Counter<'transport'>;
  componentsRefused: Counter<'transport' | 'reason'>;
  observationsStored: Counter<'result'>;
  appendDuration: Histogram;
  delivered: Counter<'destination'>;
  retries: Counter<'destination' | 'code'>;
  rejected: Counter<'destination' | 'code'>;
  ackLatency: Histogram<'destination'>;
  destinationUp: Gauge<'destination'>;
  breakerOpen: Gauge<'destination'>;
  httpProblems: Counter<'route' | 'code'>;
  /** Device frames refused before they became a Reading (framing, checksum, record grammar). */
  framesRefused: Counter<'transport' | 'reason'>;
  /** BLE fields decoded but carried by no Observation (body fat %, RR intervals, HbA1c …), by field: counted, not an error. */
  bleFieldsNotCarried: Counter<'transport' | 'reason'>;
  /** BLE central: links established, links lost (reason: device, setup-failed, shutdown), reconnect attempts. */
  bleConnections: Counter<'transport'>;
  bleDisconnects: Counter<'transport' | 'reason'>;
  bleReconnectAttempts: Counter<'transport'>;
  /** BLE values the GATT decoders refused, by error code and characteristic (16-bit UUID). */
  bleDecodeFailures: Counter<'transport' | 'reason' | 'characteristic'>;
  /** BLE operations that failed (connect, pair, GATT read/write/subscribe), by error code. */
  bleErrors: Counter<'transport' | 'reason'>;
  /** Firmware profile files that failed to (re)load; the last good version stays in force. */
  profileReloadFailures: Counter<'reason'>;
  /** MQTT broker refusals (auth, ACL, payload), by error code. */
  mqttRefusals: Counter<'transport' | 'reason'>;
  /** QoS 0 readings: taken but never acknowledged to the device (MQTT has no ack at QoS 0). */
  mqttUnacknowledged: Counter<'transport'>;
  /** Kiosk visit and live-stream requests refused (bad body, conflict, unknown visit), by error code. */
  visitRefusals: Counter<'transport' | 'reason'>;
  /** Requests refused by access control (transport: admin, kiosk, ops), by error code (401/403 codes). */
  accessRefused: Counter<'transport' | 'reason'>;
  /** Failed logins (reason: GW_ERR_LOGIN_FAILED, GW_ERR_LOGIN_THROTTLED), counted per attempt. */
  loginFailures: Counter<'transport' | 'reason'>;
  /** Live vitals streams (SSE) open right now. */
  liveStreams: Gauge<'transport'>;
  /** Audit trail records written, by kind (gateway/audit). */
  auditRecords: Counter<'kind'>;
  /** Audit records that could not be written (the reading itself is durable), by error code. */
  auditFailures: Counter<'reason'>;
  /** Entries a destination's routing filter passed over (not delivered, not dead-lettered). */
  skipped: Counter<'destination' | 'reason'>;
  /** FHIR destination: token requests refused or failed, and 401s left after the one refresh, by reason. */
  fhirAuthFailures: Counter<'destination' | 'reason'>;
  /** ADT messages applied to the patient roster, by trigger event. */
  adtMessages: Counter<'transport' | 'event'>;
  /** ADT messages answered AE/AR (reason: `<ack>-<HL7 table 0357 code>`) and failed TLS handshakes. */
  adtRefused: Counter<'transport' | 'reason'>;
  /** Readings matched to a roster patient, or quarantined for it (reason: mrn, demographics, patient-unknown …). */
  patientMatches: Counter<'transport' | 'reason'>;
  /** Seconds until the backlog is delivered at the recent delivery rate (-1 while nothing is being delivered). */
  drainEta: Gauge<'destination'>;
  /** Called at scrape time for the drain ETA per destination (seconds; undefined while unknown). */
  observeDrain(eta: () => Array<{ destination: string; seconds: number | undefined }>): void;
  /** Called at scrape time to read the buffer's counters (never a scan). */
  observeBuffer(stats: () => BufferStats | undefined): void;
}

export function createMetrics(labels: { site: string; program?: string }, options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  // Fleet labels on every series: a fleet-wide Prometheus groups hubs by site and RPM program.
  registry.setDefaultLabels({ site: labels.site, ...(labels.program ? { program: labels.program } : {}) });
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  let bufferStats: () => BufferStats | undefined = () => undefined;

  const readingsReceived = new Counter({
    name: 'gateway_readings_received_total',
    help: 'Readings handed to the gateway by a driver',
    labelNames: ['transport'] as const,
    registers: [registry],
  });
  const readingsRefused = new Counter({
    name: 'gateway_readings_refused_total',
    help: 'Readings refused at intake, by error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const readingsQuarantined = new Counter({
    name: 'gateway_readings_quarantined_total',
    help: 'Readings held in quarantine because no patient is bound to the device',
    labelNames: ['transport'] as const,
    registers: [registry],
  });
  const componentsRefused = new Counter({
    name: 'gateway_components_refused_total',
    help: 'Measured components refused while the rest of their reading was kept (IEEE-11073 special values)',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const observationsStored = new Counter({
    name: 'gateway_observations_appended_total',
    help: 'Observations offered to the buffer, by result (stored, duplicate, refused)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const appendDuration = new Histogram({
    name: 'gateway_append_duration_seconds',
    help: 'Time from submit to durable (normalize, validate, seal, synced group commit)',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const delivered = new Counter({
    name: 'gateway_dispatch_delivered_total',
    help: 'Observations acknowledged by a destination',
    labelNames: ['destination'] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: 'gateway_dispatch_retries_total',
    help: 'Send attempts that must be retried, by error code',
    labelNames: ['destination', 'code'] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'gateway_dispatch_rejected_total',
    help: 'Observations rejected by a destination and moved to its dead-letter store',
    labelNames: ['destination', 'code'] as const,
    registers: [registry],
  });
  const ackLatency = new Histogram({
    name: 'gateway_ack_latency_seconds',
    help: 'Time from sending an item to its acknowledgement',
    labelNames: ['destination'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 10],
    registers: [registry],
  });
  const destinationUp = new Gauge({
    name: 'gateway_destination_up',
    help: '1 when the destination link is connected',
    labelNames: ['destination'] as const,
    registers: [registry],
  });
  const breakerOpen = new Gauge({
    name: 'gateway_destination_circuit_open',
    help: '1 while the circuit breaker holds sends to the destination',
    labelNames: ['destination'] as const,
    registers: [registry],
  });
  const httpProblems = new Counter({
    name: 'gateway_http_problems_total',
    help: 'HTTP requests answered with a problem document, by error code',
    labelNames: ['route', 'code'] as const,
    registers: [registry],
  });

  const framesRefused = new Counter({
    name: 'gateway_frames_refused_total',
    help: 'Device frames refused before they became a reading (framing, checksum, record grammar), by error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const bleFieldsNotCarried = new Counter({
    name: 'gateway_ble_fields_not_carried_total',
    help: 'BLE measurement fields decoded but carried by no Observation (no catalog metric), by field; not an error',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const bleConnections = new Counter({
    name: 'gateway_ble_connections_total',
    help: 'BLE links established (connected, Device Information read, subscribed)',
    labelNames: ['transport'] as const,
    registers: [registry],
  });
  const bleDisconnects = new Counter({
    name: 'gateway_ble_disconnects_total',
    help: 'BLE links lost or given up, by reason (device, setup-failed, shutdown)',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const bleReconnectAttempts = new Counter({
    name: 'gateway_ble_reconnect_attempts_total',
    help: 'BLE connection attempts after a drop or a failure (back-off retries)',
    labelNames: ['transport'] as const,
    registers: [registry],
  });
  const bleDecodeFailures = new Counter({
    name: 'gateway_ble_decode_failures_total',
    help: 'BLE characteristic values the GATT decoders refused, by error code and characteristic',
    labelNames: ['transport', 'reason', 'characteristic'] as const,
    registers: [registry],
  });
  const bleErrors = new Counter({
    name: 'gateway_ble_errors_total',
    help: 'BLE operations that failed (connect, pair, GATT read/write/subscribe), by error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const profileReloadFailures = new Counter({
    name: 'gateway_profile_reload_failures_total',
    help: 'Firmware profile files that failed to load; the last good version stays in force',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  const mqttRefusals = new Counter({
    name: 'gateway_mqtt_refusals_total',
    help: 'MQTT connects, subscriptions and publishes refused by the embedded broker, by error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const mqttUnacknowledged = new Counter({
    name: 'gateway_mqtt_unacknowledged_total',
    help: 'MQTT readings published at QoS 0: stored when valid, but the device gets no acknowledgement',
    labelNames: ['transport'] as const,
    registers: [registry],
  });
  const accessRefused = new Counter({
    name: 'gateway_access_refused_total',
    help: 'Requests refused by access control (transport admin, kiosk, ops), by error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const loginFailures = new Counter({
    name: 'gateway_login_failures_total',
    help: 'Failed or throttled logins to the admin API, by error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const visitRefusals = new Counter({
    name: 'gateway_visit_refusals_total',
    help: 'Kiosk visit and live-stream requests refused (bad body, conflict, unknown visit), by error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const liveStreams = new Gauge({
    name: 'gateway_live_streams',
    help: 'Live vitals streams (Server-Sent Events) open right now',
    labelNames: ['transport'] as const,
    registers: [registry],
  });
  const auditRecords = new Counter({
    name: 'gateway_audit_records_total',
    help: 'Audit trail records written, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const auditFailures = new Counter({
    name: 'gateway_audit_write_failures_total',
    help: 'Audit trail records that could not be written, by error code',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  const skipped = new Counter({
    name: 'gateway_dispatch_skipped_total',
    help: "Entries passed over by a destination's routing filter (metric, device, patient)",
    labelNames: ['destination', 'reason'] as const,
    registers: [registry],
  });
  const fhirAuthFailures = new Counter({
    name: 'gateway_fhir_auth_failures_total',
    help: 'FHIR destination authorization failures (token endpoint refusals, network errors, 401 after refresh), by reason',
    labelNames: ['destination', 'reason'] as const,
    registers: [registry],
  });
  const adtMessages = new Counter({
    name: 'gateway_adt_messages_total',
    help: 'ADT messages applied to the patient roster, by trigger event',
    labelNames: ['transport', 'event'] as const,
    registers: [registry],
  });
  const adtRefused = new Counter({
    name: 'gateway_adt_refused_total',
    help: 'ADT messages answered AE or AR, by ACK code and HL7 table 0357 error code',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  const patientMatches = new Counter({
    name: 'gateway_patient_matches_total',
    help: 'Patient resolution of readings through the roster, by outcome',
    labelNames: ['transport', 'reason'] as const,
    registers: [registry],
  });
  let drainProvider: () => Array<{ destination: string; seconds: number | undefined }> = () => [];
  const drainEta = new Gauge({
    name: 'gateway_destination_drain_eta_seconds',
    help: 'Backlog / recent delivery rate: seconds until the destination is caught up (-1 while nothing is being delivered)',
    labelNames: ['destination'] as const,
    registers: [registry],
    collect() {
      for (const d of drainProvider()) this.set({ destination: d.destination }, d.seconds ?? -1);
    },
  });

  const bufferGauge = (name: string, help: string, read: (s: BufferStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const s = bufferStats();
        if (s) this.set(read(s));
      },
    });
  };
  bufferGauge('gateway_buffer_entries', 'Entries in the buffer log', (s) => s.entries);
  bufferGauge('gateway_buffer_disk_bytes', 'Bytes the buffer database takes on disk', (s) => s.diskBytes);
  bufferGauge('gateway_buffer_quota_bytes', 'Configured disk quota of the buffer', (s) => s.quotaBytes);
  bufferGauge('gateway_buffer_intake_refused', '1 while intake is refused at the high-water mark (alert)', (s) => (s.intakeRefused ? 1 : 0));
  bufferGauge('gateway_quarantine_readings', 'Readings waiting in quarantine for a patient binding', (s) => s.quarantined);

  const perDestination = (name: string, help: string, read: (d: BufferStats['destinations'][number]) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['destination'] as const,
      registers: [registry],
      collect() {
        const s = bufferStats();
        if (!s) return;
        for (const d of s.destinations) this.set({ destination: d.destination }, read(d));
      },
    });
  };
  perDestination('gateway_buffer_pending', 'Entries not yet delivered to the destination', (d) => d.pending);
  perDestination('gateway_buffer_pending_bytes', 'Sealed bytes not yet delivered to the destination', (d) => d.pendingBytes);
  perDestination('gateway_buffer_oldest_unsent_seconds', 'Age of the oldest entry not yet delivered', (d) =>
    d.oldestPendingAt === undefined ? 0 : Math.max(0, (Date.now() - d.oldestPendingAt) / 1000),
  );
  perDestination('gateway_dead_letters', 'Entries in the dead-letter store', (d) => d.deadLetters);

  return {
    registry,
    readingsReceived,
    readingsRefused,
    readingsQuarantined,
    componentsRefused,
    observationsStored,
    appendDuration,
    delivered,
    retries,
    rejected,
    ackLatency,
    destinationUp,
    breakerOpen,
    httpProblems,
    framesRefused,
    bleFieldsNotCarried,
    bleConnections,
    bleDisconnects,
    bleReconnectAttempts,
    bleDecodeFailures,
    bleErrors,
    profileReloadFailures,
    mqttRefusals,
    mqttUnacknowledged,
    visitRefusals,
    accessRefused,
    loginFailures,
    liveStreams,
    auditRecords,
    auditFailures,
    skipped,
    fhirAuthFailures,
    adtMessages,
    adtRefused,
    patientMatches,
    drainEta,
    observeDrain(eta) {
      drainProvider = eta;
    },
    observeBuffer(stats) {
      bufferStats = stats;
    },
  };
}
