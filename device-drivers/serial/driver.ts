// The serial driver: one session per configured port. Bytes → framer → record decoder → ctx.submit;
// ACK to the device only once the reading is durable (NAK otherwise) where the profile has acknowledgements;
// re-opens with back-off when the port disappears (USB unplug) and comes back.
import { resolve } from 'node:path';
import { SerialPort } from 'serialport';
import type { DriverContext, DriverDefinition, RunningDriver } from '../../gateway/driver.ts';
import { GatewayError, issue } from '../../gateway/errors.ts';
import type { Logger } from '../../gateway/logger.ts';
import { formatProblem, ProfileRegistry } from '../../gateway/profiles/registry.ts';
import type { SerialFirmwareProfile } from '../../gateway/profiles/schema.ts';
import type { Issue, Reading } from '../../gateway/types.ts';
import { serialConfigSchema, type SerialConfig, type SerialPortConfig } from './config.ts';
import { decodeRecord } from './decode-record.ts';
import { createFramer, type Framer, type FramerEvent } from './framers/index.ts';

export const PortState = {
  opening: 'opening',
  open: 'open',
  waiting: 'waiting', // closed, re-open scheduled
  stopped: 'stopped',
} as const;
export type PortState = (typeof PortState)[keyof typeof PortState];

class PortSession {
  readonly #config: SerialPortConfig;
  readonly #registry: ProfileRegistry;
  readonly #ctx: DriverContext;
  readonly #reconnect: SerialConfig['reconnect'];
  readonly #log: Logger;
  #port: SerialPort | undefined;
  #state: PortState = 'opening';
  #timer: NodeJS.Timeout | undefined;
  #delayMs: number;
  #framer: Framer | undefined;
  #framingKey = '';
  #chain: Promise<void> = Promise.resolve();
  #counts = { frames: 0, readings: 0, refused: 0, reconnects: 0 };
  #lastError: string | undefined;

  constructor(config: SerialPortConfig, registry: ProfileRegistry, ctx: DriverContext, reconnect: SerialConfig['reconnect']) {
    this.#config = config;
    this.#registry = registry;
    this.#ctx = ctx;
    this.#reconnect = reconnect;
    this.#delayMs = reconnect.initialMs;
    this.#log = ctx.logger.child({ driver: 'serial', deviceId: config.deviceId });
  }

  /** The profile in force (a broken edit keeps the last good one; only deleting the file removes it). */
  #profile(): SerialFirmwareProfile | undefined {
    return this.#registry.getSerial(this.#config.profile);
  }

  open(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'opening';
    const profile = this.#profile();
    if (!profile) {
      this.#portProblem(issue('GW_ERR_FIRMWARE_PROFILE_UNKNOWN', undefined, this.#config.profile).message);
      return;
    }
    const settings = profile.transport;
    const port = new SerialPort({
      path: this.#config.path,
      baudRate: this.#config.baudRate ?? settings.baudRate,
      dataBits: settings.dataBits,
      parity: settings.parity,
      stopBits: settings.stopBits,
      autoOpen: false,
    });
    this.#port = port;
    port.open((err) => {
      if (err) {
        this.#portProblem(err.message);
        return;
      }
      if (this.#state === 'stopped') {
        port.close(() => undefined);
        return;
      }
      this.#state = 'open';
      this.#delayMs = this.#reconnect.initialMs;
      this.#framer = undefined; // a fresh stream: drop half a frame from before the unplug
      this.#log.info({ path: this.#config.path, profile: this.#config.profile }, 'serial port open');
    });
    port.on('data', (chunk: Buffer) => this.#onData(chunk));
    port.on('error', (err) => this.#log.warn({ code: 'GW_ERR_SERIAL_PORT', reason: err.message }, 'serial port error'));
    port.on('close', () => {
      if (this.#port === port && this.#state === 'open') this.#portProblem('closed (device unplugged?)');
    });
  }

  #portProblem(reason: string): void {
    if (this.#state === 'stopped') return;
    this.#lastError = issue('GW_ERR_SERIAL_PORT', undefined, this.#config.path, reason).message;
    this.#state = 'waiting';
    this.#log.warn({ code: 'GW_ERR_SERIAL_PORT', path: this.#config.path, reason, retryInMs: this.#delayMs }, 'serial port unavailable; re-opening with back-off');
    const port = this.#port;
    this.#port = undefined;
    if (port?.isOpen) port.close(() => undefined);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#counts.reconnects++;
      this.open();
    }, this.#delayMs);
    this.#delayMs = Math.min(this.#delayMs * 2, this.#reconnect.maxMs);
  }

  #onData(chunk: Buffer): void {
    const profile = this.#profile();
    if (!profile) {
      const why = issue('GW_ERR_FIRMWARE_PROFILE_UNKNOWN', undefined, this.#config.profile);
      this.#ctx.metrics?.framesRefused.inc({ transport: 'serial', reason: why.code });
      this.#log.warn({ code: why.code, dropped: chunk.length }, 'serial bytes dropped: the port\'s firmware profile is gone');
      return;
    }
    const key = JSON.stringify(profile.framing);
    if (!this.#framer || key !== this.#framingKey) {
      this.#framer = createFramer(profile.framing); // a reloaded profile changed the framing
      this.#framingKey = key;
    }
    const receivedAt = new Date();
    for (const event of this.#framer.push(chunk)) {
      // One at a time and in order: the device's next frame waits for this one's ACK anyway.
      this.#chain = this.#chain.then(() => this.#handle(event, profile, receivedAt)).catch((err: unknown) => {
        this.#log.error({ err }, 'serial frame handling failed');
      });
    }
  }

  #refuse(issues: Issue[], dropped: number, profile: SerialFirmwareProfile): void {
    this.#counts.refused++;
    for (const i of issues) this.#ctx.metrics?.framesRefused.inc({ transport: 'serial', reason: i.code });
    // Codes and paths only: the frame may carry clinical values (debug level has them).
    this.#log.warn({ profile: profile.id, dropped, issues: issues.map((i) => ({ code: i.code, path: i.path })) }, 'serial frame refused');
    this.#log.debug({ issues }, 'serial frame refused (detail)');
  }

  #answer(profile: SerialFirmwareProfile, ok: boolean): void {
    const ack = profile.acknowledge;
    if (!ack || !this.#port?.isOpen) return;
    this.#port.write(Buffer.from(ok ? ack.ack : ack.nak, 'hex'));
  }

  async #handle(event: FramerEvent, profile: SerialFirmwareProfile, receivedAt: Date): Promise<void> {
    if (event.kind === 'error') {
      this.#refuse([event.issue], event.dropped, profile);
      // A bad checksum is a transmission error the device can fix by resending.
      if (event.issue.code === 'GW_ERR_SERIAL_CHECKSUM') this.#answer(profile, false);
      return;
    }
    this.#counts.frames++;
    const decoded = decodeRecord(profile, event.payload);
    if (!decoded.ok) {
      this.#refuse(decoded.issues, event.frame.length, profile);
      this.#answer(profile, false);
      return;
    }
    if (decoded.value.kind === 'skipped') {
      this.#log.debug({ reason: decoded.value.reason }, 'serial record without a measurement skipped');
      return;
    }
    const reading: Reading = {
      deviceId: this.#config.deviceId,
      profileId: profile.id,
      transport: 'serial',
      components: decoded.value.components,
      receivedAt: receivedAt.toISOString(),
      raw: event.frame.toString('base64'),
    };
    if (decoded.value.deviceTime !== undefined) reading.deviceTime = decoded.value.deviceTime;
    const result = await this.#ctx.submit(reading);
    // DESIGN: acknowledge the device only once the reading is durable.
    this.#answer(profile, result.durable);
    if (result.durable) this.#counts.readings++;
    else this.#log.warn({ profile: profile.id, result: result.kind }, 'serial reading not stored');
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    await this.#chain;
    const port = this.#port;
    this.#port = undefined;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }

  status(): Record<string, unknown> {
    return { path: this.#config.path, deviceId: this.#config.deviceId, profile: this.#config.profile, state: this.#state, ...this.#counts, ...(this.#lastError ? { lastError: this.#lastError } : {}) };
  }
}

export const serialDriver: DriverDefinition<typeof serialConfigSchema> = {
  id: 'serial',
  configSchema: serialConfigSchema,
  async start(config, ctx): Promise<RunningDriver> {
    const registry = new ProfileRegistry({ dir: resolve(config.profilesDir), logger: ctx.logger.child({ driver: 'serial', stage: 'profiles' }), ...(ctx.metrics ? { metrics: ctx.metrics } : {}) });
    registry.load();
    // validate → plan → apply: every port's profile must be in force before any port opens.
    const missing = config.ports.flatMap((p, i) =>
      registry.getSerial(p.profile)
        ? []
        : [`serial.ports[${i}].profile: ${registry.get(p.profile) ? `firmware profile "${p.profile}" is not a serial profile` : `unknown firmware profile "${p.profile}"`} in ${registry.dir}`],
    );
    if (missing.length > 0) throw new GatewayError('GW_ERR_CONFIG_INVALID', [missing.join('; ')]);
    registry.watch();
    const sessions = config.ports.map((p) => new PortSession(p, registry, ctx, config.reconnect));
    for (const s of sessions) s.open();
    return {
      async stop() {
        registry.close();
        await Promise.all(sessions.map((s) => s.stop()));
      },
      // Problems name files and paths, never clinical values: safe for /v1/status.
      status: () => ({ ports: sessions.map((s) => s.status()), profileProblems: registry.problems().map(formatProblem) }),
    };
  },
};
