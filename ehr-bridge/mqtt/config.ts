// Configuration of the optional upstream MQTT bridge: a Destination that publishes each Observation as FHIR
// JSON at QoS 1 to an upstream broker (a fleet's broker cluster), delivered on PUBACK.
import { z } from 'zod';

export const mqttDestinationSchema = z
  .object({
    id: z.string().min(1),
    type: z.literal('mqtt'),
    /** mqtt://, mqtts://, ws:// or wss:// */
    url: z.string().regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
    /** Topic prefix; each Observation goes to `<prefix>/<deviceId>/observation`. */
    upstreamTopicPrefix: z.string().min(1).max(256).regex(/^[^#+]*[^/#+]$/, 'no wildcards and no trailing /'),
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().min(1).optional(),
    /** Name of the environment variable holding the password (secrets stay out of the config file). */
    passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** 4 = MQTT 3.1.1 (every broker); 5 lets the upstream refuse an item with a PUBACK reason code (dead-lettered). */
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
    ackTimeoutMs: z.number().int().positive().default(10_000),
    connectTimeoutMs: z.number().int().positive().default(5_000),
  })
  .strict();

export type MqttDestinationConfig = z.output<typeof mqttDestinationSchema>;
