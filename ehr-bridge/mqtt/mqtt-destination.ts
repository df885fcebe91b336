// The upstream MQTT bridge: each Observation is published as FHIR JSON with QoS 1 to
// `<upstreamTopicPrefix>/<deviceId>/observation`; a PUBACK is delivery. Dispatch owns order, retries, dead letters.
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { errorMessage } from '../../gateway/errors.ts';
import { DestinationType, type BufferedObservation, type Destination, type LinkState, type SendOutcome } from '../../gateway/types.ts';
import type { MqttDestinationConfig } from './config.ts';

// MQTT 5.0 §3.4.2.1: PUBACK reason codes that say resending the same message cannot help
const PERMANENT_PUBACK_CODES = new Set([0x87 /* Not authorized */, 0x90 /* Topic Name invalid */, 0x99 /* Payload format invalid */]);

export class MqttDestination implements Destination {
  readonly id: string;
  readonly type = DestinationType.mqtt;
  readonly #config: MqttDestinationConfig;
  readonly #client: MqttClient;
  readonly #log: Logger | undefined;
  #closed = false;

  constructor(config: MqttDestinationConfig, options: { logger?: Logger; env?: Readonly<Record<string, string | undefined>> } = {}) {
    this.id = config.id;
    this.#config = config;
    this.#log = options.logger?.child({ stage: 'ehr-bridge', destination: config.id });
    const env = options.env ?? process.env;
    const password = config.passwordEnv ? env[config.passwordEnv] : undefined;
    const clientOptions: IClientOptions = {
      protocolVersion: config.protocolVersion,
      clientId: config.clientId ?? `rpm-gw-${config.id}`,
      reconnectPeriod: 1000,
      connectTimeout: config.connectTimeoutMs,
      clean: true,
      ...(config.username ? { username: config.username } : {}),
      ...(password ? { password } : {}),
      ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}),
      ...(config.certFile ? { cert: readFileSync(config.certFile) } : {}),
      ...(config.keyFile ? { key: readFileSync(config.keyFile) } : {}),
    };
    this.#client = mqtt.connect(config.url, clientOptions);
    this.#client.on('error', (err) => this.#log?.warn({ code: 'GW_ERR_MQTT_UPSTREAM', err: err.message }, 'upstream MQTT broker error'));
    this.#client.on('connect', () => this.#log?.info('upstream MQTT broker connected'));
  }

  async send(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]> {
    if (!this.#client.connected || this.#closed) {
      const reason = errorMessage('GW_ERR_MQTT_UPSTREAM', this.#config.url, 'not connected');
      return batch.map(() => ({ kind: 'retry', code: 'GW_ERR_MQTT_UPSTREAM', reason }));
    }
    // All of the batch goes out at once (mqtt.js keeps order on the wire); outcomes are read in order, and
    // nothing after the first failure counts as delivered, even if acknowledged (a resend is idempotent upstream: same id).
    const started = Date.now();
    const pending = batch.map((item) => this.#publish(item, signal));
    const outcomes: SendOutcome[] = [];
    let failed = false;
    for (const p of pending) {
      const outcome = await p;
      if (failed && outcome.kind === 'delivered') {
        outcomes.push({ kind: 'retry', code: 'GW_ERR_MQTT_UPSTREAM', reason: errorMessage('GW_ERR_MQTT_UPSTREAM', this.#config.url, 'an earlier item failed') });
        continue;
      }
      if (outcome.kind !== 'delivered') failed = true;
      outcomes.push(outcome.kind === 'delivered' ? { kind: 'delivered', receipt: { ...outcome.receipt, latencyMs: Date.now() - started } } : outcome);
    }
    return outcomes;
  }

  #publish(item: BufferedObservation, signal?: AbortSignal): Promise<SendOutcome> {
    const observation = item.observation;
    const deviceId = observation.device?.identifier?.value ?? 'unknown-device';
    const topic = `${this.#config.upstreamTopicPrefix}/${deviceId.replace(/[/#+]/g, '_')}/observation`;
    const id = observation.id ?? String(item.seq);
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: SendOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const timer = setTimeout(
        () => finish({ kind: 'retry', code: 'GW_ERR_MQTT_UPSTREAM_TIMEOUT', reason: errorMessage('GW_ERR_MQTT_UPSTREAM_TIMEOUT', id, this.#config.ackTimeoutMs) }),
        this.#config.ackTimeoutMs,
      );
      signal?.addEventListener('abort', () => finish({ kind: 'retry', code: 'GW_ERR_MQTT_UPSTREAM', reason: errorMessage('GW_ERR_MQTT_UPSTREAM', this.#config.url, 'send aborted') }), { once: true });
      this.#client.publish(topic, JSON.stringify(observation), { qos: 1 }, (err) => {
        if (!err) return finish({ kind: 'delivered', receipt: { id, detail: `PUBACK ${topic}` } });
        const code = (err as { code?: number }).code;
        if (typeof code === 'number' && PERMANENT_PUBACK_CODES.has(code)) {
          return finish({ kind: 'rejected', code: 'GW_ERR_MQTT_UPSTREAM_REFUSED', reason: errorMessage('GW_ERR_MQTT_UPSTREAM_REFUSED', id, `0x${code.toString(16)}`) });
        }
        finish({ kind: 'retry', code: 'GW_ERR_MQTT_UPSTREAM', reason: errorMessage('GW_ERR_MQTT_UPSTREAM', this.#config.url, err.message) });
      });
    });
  }

  linkState(): LinkState {
    if (this.#closed) return 'closed';
    if (this.#client.connected) return 'connected';
    return this.#client.reconnecting ? 'connecting' : 'down';
  }

  async close(): Promise<void> {
    this.#closed = true;
    await new Promise<void>((resolve) => this.#client.end(true, {}, () => resolve()));
  }
}
