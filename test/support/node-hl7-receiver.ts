// node-hl7-server (an independent MLLP implementation) as a receiver for tests and benchmarks.
import net from 'node:net';
import { Server as NodeHl7Server, type Inbound } from 'node-hl7-server';

export interface NodeHl7Receiver {
  port: number;
  /** MSH-10 of each message handed to the application, in order. */
  handled: string[];
  /** Every frame as the server read it (its `data.raw` event). */
  raw: string[];
  stop(): Promise<void>;
}

export async function startNodeHl7Receiver(
  options: { tls?: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert?: boolean }; decide?: (controlId: string) => 'AA' | 'AE' | 'AR' } = {},
): Promise<NodeHl7Receiver> {
  const handled: string[] = [];
  const raw: string[] = [];
  const server = new NodeHl7Server({ bindAddress: '127.0.0.1', ...(options.tls ? { tls: options.tls } : {}) });
  const inbound: Inbound = server.createInbound({ port: 0 }, async (req, res) => {
    const controlId = req.getMessage().get('MSH.10').toString();
    handled.push(controlId);
    await res.sendResponse(options.decide?.(controlId) ?? 'AA');
  });
  inbound.on('data.raw', (text: string) => raw.push(text));
  await new Promise<void>((resolve, reject) => {
    inbound.once('listen', resolve);
    inbound.once('error', reject);
  });
  // The listening net.Server is private; its address is the only way to learn an ephemeral port.
  const listener = (inbound as unknown as { _socket: net.Server })._socket;
  const { port } = listener.address() as net.AddressInfo;
  return {
    port,
    handled,
    raw,
    stop: async () => {
      await inbound.close(); // destroys client sockets, then closes the listener without waiting
      if (listener.listening) await new Promise((resolve) => listener.once('close', resolve));
    },
  };
}
