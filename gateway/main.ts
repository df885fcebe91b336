// The composition root: wires buffer, intake, dispatch, bridges, drivers and HTTP, and shuts them down in
// the right order on SIGTERM (stop intake, stop dispatch, close bridges, close the buffer last).
import { join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { MllpDestination } from '../ehr-bridge/hl7v2/mllp-destination.ts';
import { MqttDestination } from '../ehr-bridge/mqtt/mqtt-destination.ts';
import { FhirDestination } from '../ehr-bridge/fhir/fhir-destination.ts';
import { startSimulatedKiosk, type SimulatedKiosk } from '../device-drivers/kiosk/simulator.ts';
import { LiveVitals } from '../device-drivers/kiosk/live.ts';
import { VisitStore } from '../device-drivers/kiosk/visits.ts';
import { mqttDriver } from '../device-drivers/mqtt/driver.ts';
import { serialDriver } from '../device-drivers/serial/driver.ts';
import { createBleDriver } from '../device-drivers/ble/driver.ts';
import { AuditTrail } from './audit/trail.ts';
import { BindingStore } from './bindings.ts';
import { startAdtListener, type AdtListener } from '../ehr-bridge/hl7v2/adt-listener.ts';
import { PatientRoster, type PatientDirectory } from './roster.ts';
import { releaseForRoster } from './roster-release.ts';
import { LevelDbBuffer } from './buffer/leveldb-buffer.ts';
import { DEVELOPMENT_BUFFER_KEY, parseBufferKey } from './buffer/seal.ts';
import type { GatewayConfig } from './config.ts';
import { DestinationDispatcher, drainEtaSeconds } from './dispatch.ts';
import type { DriverContext, DriverDefinition, RunningDriver } from './driver.ts';
import { buildHttpApp, createAccessControl } from './http/app.ts';
import { createHash } from 'node:crypto';
import { DeviceRegistry } from './devices.ts';
import { Intake } from './ingest.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type GatewayMetrics } from './metrics.ts';
import { bindingKey, type NormalizeContext } from './normalize.ts';
import { warmUpValidation } from './fhir/validate.ts';
import type { Destination } from './types.ts';

export interface GatewayEnv {
  /** GW_BUFFER_KEY: 32 bytes as hex or base64. */
  bufferKey?: string;
  /** GW_ADMIN_TOKEN: bearer token for the admin API. */
  adminToken?: string;
}

export interface Gateway {
  app: FastifyInstance;
  buffer: LevelDbBuffer;
  metrics: GatewayMetrics;
  dispatchers: DestinationDispatcher[];
  intake: Intake;
  audit: AuditTrail;
  /** The ADT-fed patient roster. */
  roster: PatientRoster;
  /** The port the ADT MLLP listener took (config `mllp.listen`); undefined without one. */
  adtPort(): number | undefined;
  /** The address the HTTP server listens on. */
  url: string;
  close(): Promise<void>;
}

export function createDestination(config: GatewayConfig['destinations'][number], siteId: string, logger: Logger, metrics?: GatewayMetrics, patients?: PatientDirectory): Destination {
  switch (config.type) {
    case 'mllp':
      return new MllpDestination(config, { siteId, logger, ...(patients ? { patients } : {}) }); // the bridge names its own stage and destination
    case 'mqtt':
      return new MqttDestination(config, { logger });
    case 'fhir':
      return new FhirDestination(config, { logger, ...(metrics ? { metrics } : {}) });
    default:
      return config satisfies never;
  }
}

export async function startGateway(config: GatewayConfig, logger: Logger, env: GatewayEnv = {}): Promise<Gateway> {
  const startedAt = new Date();
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  let key: Buffer;
  if (env.bufferKey) {
    key = parseBufferKey(env.bufferKey);
  } else {
    key = DEVELOPMENT_BUFFER_KEY;
    logger.warn(
      { key: 'GW_BUFFER_KEY' },
      'GW_BUFFER_KEY is not set: the buffer is sealed with the PUBLIC DEVELOPMENT KEY. Patient data at rest is NOT protected. Set GW_BUFFER_KEY (32 bytes, hex or base64) before real use.',
    );
  }

  const metrics = createMetrics({ site: config.site.id, ...(config.site.program ? { program: config.site.program } : {}) });
  const buffer = new LevelDbBuffer(
    {
      dir: join(dataDir, 'buffer'),
      key,
      destinations: config.destinations.map((d) => d.id),
      quotaBytes: config.buffer.quotaBytes,
      highWaterRatio: config.buffer.highWaterRatio,
      retentionMs: config.buffer.retentionHours * 3600_000,
    },
    logger.child({ stage: 'buffer' }),
  );
  await buffer.open();
  metrics.observeBuffer(() => buffer.stats());
  warmUpValidation();
  const audit = await AuditTrail.open(buffer.state, logger, metrics);
  const access = await createAccessControl({ config, logger, metrics, buffer, audit, ...(env.adminToken ? { adminToken: env.adminToken } : {}) });
  if (!access.isOpen()) {
    logger.warn('the admin API is closed: no admin account and no GW_ADMIN_TOKEN, so it answers 401 to everything. Create an admin with the gateway stopped: `printf %s "$PASSWORD" | gw user add <name> --role admin` (then log in at POST /v1/login)');
  }
  if (config.kiosk.tokens.length === 0) {
    logger.warn('no kiosk token is configured (kiosk.tokens): the kiosk intake accepts requests from loopback only (development default). Make one with `gw kiosk token <id>`');
  }
  // A changed configuration is an audit event (its hash only: the file holds hashes, never secrets).
  const configSha256 = createHash('sha256').update(JSON.stringify(config)).digest('hex');
  if ((await buffer.state.get('config-sha256')) !== configSha256) {
    await buffer.state.put('config-sha256', configSha256);
    audit.record({ kind: 'config', actor: 'gateway', subject: {}, detail: { sha256: configSha256 } });
  }

  const bindings = new BindingStore({ buffer, logger, config: config.bindings, audit });
  await bindings.load();
  // The ADT-fed patient roster (sealed in the state store); its index keys are HMACs under a key derived from the buffer key.
  const roster = new PatientRoster({ buffer, bufferKey: key, defaultSystem: config.patients.defaultSystem, required: config.roster.required, logger, audit });
  await roster.load();
  const normalizeContext: NormalizeContext = {
    patients: roster,
    siteId: config.site.id,
    bindingFor: (deviceId) => bindings.bindingFor(deviceId),
    clockSkewToleranceMs: config.clock.skewToleranceSeconds * 1000,
    defaultPatientSystem: config.patients.defaultSystem,
  };

  const destinations = config.destinations.map((d) => createDestination(d, config.site.id, logger, metrics, roster));
  const dispatchers = destinations.map(
    (destination) => new DestinationDispatcher({ destination, buffer, logger, metrics, options: config.dispatch, audit }),
  );
  // Kiosk visits survive a restart (buffer state store); live vitals stream each durable Observation.
  const visits = new VisitStore(buffer.state);
  await visits.load();
  const live = new LiveVitals();
  const intake = new Intake({
    buffer,
    logger,
    metrics,
    normalizeContext,
    onStored: () => dispatchers.forEach((d) => d.wake()),
    onObservation: (observation, seq) => live.publish(observation, seq),
    audit,
  });
  let accepting = true;
  const devices = new DeviceRegistry();
  const driverContext: DriverContext = {
    submit: async (reading) => {
      const result = await intake.submit(reading);
      devices.seen(reading, result);
      if (reading.demographics !== undefined && reading.patient === undefined) {
        // Demographic matching outcomes (gateway/roster-match.ts): matched, patient-unmatched, patient-ambiguous.
        const reason = result.kind === 'accepted' ? 'matched' : result.kind === 'quarantined' ? result.reason : result.kind;
        metrics.patientMatches.inc({ transport: reading.transport, reason });
      }
      return result;
    },
    logger,
    metrics,
  };

  // Readings quarantined in an earlier run whose device has been bound since (config edit) go out now.
  const quarantined = new Set((await buffer.quarantine.list()).map((q) => bindingKey(q.reading))); // device or <device>/user/<n>
  for (const deviceId of quarantined) {
    if (bindings.bindingFor(deviceId)) await bindings.release(deviceId, intake, normalizeContext);
  }

  metrics.observeDrain(() => {
    let backlog: ReturnType<LevelDbBuffer['stats']>['destinations'];
    try {
      backlog = buffer.stats().destinations;
    } catch {
      return []; // buffer closing
    }
    return dispatchers.map((d) => ({
      destination: d.id,
      seconds: drainEtaSeconds(backlog.find((b) => b.destination === d.id)?.pending ?? 0, d.status().deliveryRatePerSecond),
    }));
  });
  const linkGauge = setInterval(() => {
    for (const d of destinations) metrics.destinationUp.set({ destination: d.id }, d.linkState() === 'connected' ? 1 : 0);
  }, 1000);
  linkGauge.unref();
  const compaction = setInterval(() => {
    buffer.compact().catch((err: unknown) => logger.error({ err }, 'buffer compaction failed'));
  }, 60_000);
  compaction.unref();

  const app = await buildHttpApp({
    config,
    logger,
    metrics,
    buffer,
    destinations,
    dispatchers,
    driverContext,
    devices,
    bindings,
    intake,
    normalizeContext,
    audit,
    roster,
    access,
    ...(env.adminToken ? { adminToken: env.adminToken } : {}),
    startedAt,
    visits,
    live,
    accepting: () => accepting,
    driverStatus: () => Object.fromEntries(drivers.map(([id, d]) => [id, d.status?.() ?? {}])),
  });
  const url = await app.listen({ host: config.http.host, port: config.http.port });
  const drivers: Array<[string, RunningDriver]> = [];
  let simulator: SimulatedKiosk | undefined;
  let adtListener: AdtListener | undefined;
  let rosterWork: Promise<void> = Promise.resolve();
  let closing: Promise<void> | undefined;
  /** Intake first (device drivers, simulator, HTTP), then dispatch and bridges, the buffer last. */
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      logger.info('shutting down: intake first');
      await adtListener?.close(); // ADT is intake too: no roster change after this point
      await rosterWork;
      for (const [, driver] of [...drivers].reverse()) await driver.stop();
      await simulator?.stop();
      await closeHttp(app); // waits for in-flight requests, whose appends finish and sync first
      await Promise.all(dispatchers.map((d) => d.stop()));
      await Promise.all(destinations.map((d) => d.close()));
      clearInterval(linkGauge);
      clearInterval(compaction);
      await audit.close(); // the trail's last records go out before the buffer closes
      await buffer.close();
      logger.info('gateway stopped; buffer closed');
    })();
    return closing;
  };

  // Device drivers start once the HTTP server listens; one that cannot start (a port in use, a bad
  // profile directory) stops the gateway cleanly rather than leaving half of it running.
  const configured: Array<[DriverDefinition, unknown]> = [];
  if (config.mqtt) configured.push([mqttDriver, config.mqtt]);
  if (config.serial) configured.push([serialDriver, config.serial]);
  if (config.ble) configured.push([createBleDriver({ state: buffer.state }), config.ble]);
  for (const [definition, section] of configured) {
    try {
      drivers.push([definition.id, await definition.start(section, driverContext)]);
    } catch (err) {
      await close();
      throw err;
    }
  }
  for (const d of dispatchers) d.start();

  // The ADT listener: each applied message may release readings waiting for that patient (before its AA).
  if (config.mllp?.listen) {
    const releaseDeps = { buffer, bindings, intake, normalizeContext, logger };
    try {
      adtListener = await startAdtListener(config.mllp.listen, {
        logger,
        metrics,
        apply: (message) => {
          const work = roster.apply(message).then(async (result) => {
            if (result.ok) {
              await releaseForRoster(releaseDeps).catch((err: unknown) => logger.error({ err }, 'quarantine release after a roster change failed'));
            }
            return result;
          });
          const settled = work.then(() => undefined, () => undefined);
          rosterWork = Promise.all([rosterWork, settled]).then(() => undefined); // close() waits for every one
          return work;
        },
      });
    } catch (err) {
      await close();
      throw err;
    }
  }

  if (config.simulate.enabled) {
    simulator = startSimulatedKiosk(driverContext, { deviceId: config.simulate.deviceId, intervalMs: config.simulate.intervalMs });
  }
  logger.info(
    { url, dataDir, destinations: config.destinations.map((d) => `${d.id}:${d.type}`), simulate: config.simulate.enabled },
    'gateway started',
  );

  return { app, buffer, metrics, dispatchers, intake, audit, roster, adtPort: () => adtListener?.port, url, close };
}

/** How long SIGTERM waits for in-flight HTTP requests before cutting their connections. */
const HTTP_DRAIN_MS = 5_000;

/**
 * Close the HTTP server, waiting for in-flight requests (their appends finish and sync first). Node closes
 * idle keep-alive connections once, at close(); a connection busy at that moment turns idle later and would
 * hold close() for the whole keep-alive timeout (72 s), past the supervisor's grace period. So idle ones are
 * swept until the server is closed, and whatever is still open after HTTP_DRAIN_MS is cut.
 */
async function closeHttp(app: Awaited<ReturnType<typeof buildHttpApp>>): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  const cut = setTimeout(() => app.server.closeAllConnections(), HTTP_DRAIN_MS);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
}
