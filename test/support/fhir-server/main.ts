// The FHIR R4 test server as its own process:
//   node --import tsx test/support/fhir-server/main.ts --port 0 [--host 127.0.0.1] [--store-file f.jsonl]
//        [--validate=false] [--options-json '{…ServerOptions…}'] [--exit-with-stdin]
// Prints ONE JSON line {"baseUrl","tokenUrl","controlUrl","port","pid"} on stdout once it listens.
import { parseArgs } from 'node:util';
import type { ServerOptions } from './options.ts';
import { createFhirTestServer } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'store-file': { type: 'string' },
    validate: { type: 'string' },
    'options-json': { type: 'string' },
    /** Exit when stdin closes (client.ts passes it, so a crashed test process leaves no server behind). */
    'exit-with-stdin': { type: 'boolean', default: false },
  },
  strict: true,
});

let options: ServerOptions = {};
if (values['options-json']) {
  try {
    options = JSON.parse(values['options-json']) as ServerOptions;
  } catch (err) {
    process.stderr.write(`fhir-test-server: --options-json is not JSON: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
if (values.validate !== undefined) options = { ...options, validate: values.validate !== 'false' };
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`fhir-test-server: --port ${values.port} is not a TCP port\n`);
  process.exit(2);
}

const server = createFhirTestServer(options, values['store-file']);
const announced = await server.listen(port, values.host);
process.stdout.write(`${JSON.stringify(announced)}\n`);

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (values['exit-with-stdin']) {
  // The parent test process went away without stopping us (its stdin pipe closed): do not linger.
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
