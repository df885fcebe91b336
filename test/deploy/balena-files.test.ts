// The Balena release files parse and have the shapes Balena documents, and every environment variable
// the gateway reads is in the README's table. No Docker engine here: the image is not built.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DOCUMENT_ENV, ENV_BINDINGS, GENERIC_ENV_PREFIX, parseConfig, SECRET_ENV } from '../../gateway/config.ts';
import { ROOT } from '../support/harness.ts';

const BALENA = join(ROOT, 'deploy/balena');
const read = (path: string): string => readFileSync(path, 'utf8');
const pkg = JSON.parse(read(join(ROOT, 'package.json'))) as { version: string };

type Service = Record<string, unknown> & { labels?: Record<string, string>; environment?: Record<string, string>; volumes?: string[] };
const compose = parseYaml(read(join(BALENA, 'docker-compose.yml'))) as { version: string; volumes: Record<string, unknown>; services: Record<string, Service> };
const balena = parseYaml(read(join(BALENA, 'balena.yml'))) as Record<string, unknown> & { data: Record<string, unknown> };
const gateway = compose.services.gateway!;

describe('the Balena docker-compose.yml', () => {
  it('is a version 2.1 file with one gateway service built from the repository by Dockerfile.template', () => {
    assert.equal(compose.version, '2.1'); // the supervisor implements Compose 2.x; version 3 fields are unsupported
    assert.deepEqual(Object.keys(compose.services), ['gateway']);
    const build = gateway.build as { context: string; dockerfile: string };
    const context = resolve(BALENA, build.context);
    assert.ok(existsSync(join(context, 'package.json')), 'the build context is the repository root');
    assert.ok(existsSync(join(context, build.dockerfile)), 'the dockerfile exists inside the context');
  });

  it('keeps the buffer on a named volume mounted at GW_DATA_DIR', () => {
    const dataDir = gateway.environment!.GW_DATA_DIR;
    assert.equal(dataDir, '/data');
    // Balena supports only short syntax and named volumes; bind mounts are refused.
    const mounts = gateway.volumes!.map((v) => v.split(':'));
    const data = mounts.find(([, target]) => target === dataDir);
    assert.ok(data, `a volume is mounted at ${dataDir}`);
    assert.ok(data[0]! in compose.volumes, `"${data[0]}" is declared under top-level volumes`);
    for (const [source] of mounts) assert.doesNotMatch(source!, /^[./~]/, 'no bind mounts');
  });

  it('restarts always, stops gracefully on SIGTERM and checks /healthz on the configured port', () => {
    assert.equal(gateway.restart, 'always');
    assert.match(String(gateway.stop_grace_period), /^\d+s$/);
    const health = gateway.healthcheck as { test: string[] };
    assert.equal(health.test[0], 'CMD');
    assert.ok(health.test.join(' ').includes('/healthz'));
    assert.ok(health.test.join(' ').includes('GW_HTTP_PORT'));
  });

  it('reaches host Bluetooth through D-Bus with host networking, and serial ports as a device', () => {
    assert.equal(gateway.network_mode, 'host');
    assert.equal(gateway.labels!['io.balena.features.dbus'], '1');
    assert.equal(gateway.environment!.DBUS_SYSTEM_BUS_ADDRESS, 'unix:path=/host/run/dbus/system_bus_socket');
    assert.ok((gateway.cap_add as string[]).includes('NET_ADMIN'));
    assert.ok(gateway.privileged === true || Array.isArray(gateway.devices), 'serial devices reachable');
    assert.equal(gateway.ports, undefined, 'published ports do not apply with host networking');
    // The gateway does not talk to the supervisor, so it does not ask for its API key.
    assert.equal(gateway.labels!['io.balena.features.supervisor-api'], undefined);
    for (const label of Object.keys(gateway.labels!)) assert.match(label, /^io\.balena\.features\.[a-z-]+$/);
  });
});

describe('the Balena balena.yml', () => {
  it('names a sw.application whose version is the package.json version', () => {
    assert.equal(balena.name, 'rpm-edge-gateway');
    assert.equal(balena.type, 'sw.application');
    assert.equal(balena.version, pkg.version);
  });

  it('supports the Raspberry Pi 3/4/5 and x86-64 device types and defaults to a Pi 4', () => {
    const types = balena.data.supportedDeviceTypes as string[];
    for (const t of ['raspberrypi4-64', 'raspberrypi5', 'raspberrypi3', 'intel-nuc', 'genericx86-64-ext']) assert.ok(types.includes(t), t);
    assert.ok(types.includes(balena.data.defaultDeviceType as string));
  });
});

describe('the Dockerfile.template', () => {
  const dockerfile = read(join(BALENA, 'Dockerfile.template'));
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('lets the non-root runtime bind port 80, the only port Balena\'s public device URL reaches', () => {
    assert.match(runtime, /setcap cap_net_bind_service=\+ep "\$\(readlink -f "\$\(command -v node\)"\)"/);
  });

  it('runs the compiled gateway as a non-root user in the dialout group and stops on SIGTERM', () => {
    assert.match(runtime, /useradd[^\n]*--groups dialout[^\n]* gateway/);
    assert.match(runtime, /^USER gateway$/m);
    assert.match(runtime, /^STOPSIGNAL SIGTERM$/m);
    assert.match(runtime, /GW_RUNTIME=dist/);
    assert.match(runtime, /chown gateway:gateway \/data/);
  });
});

describe('the README environment table', () => {
  const readme = read(join(ROOT, 'README.md'));
  const section = readme.slice(readme.indexOf('### Environment variables'));
  const table = section.slice(0, section.search(/\n#{2,3} /) > 0 ? section.search(/\n#{2,3} /) : undefined);
  const documented = new Set([...table.matchAll(/`((?:GW|GATEWAY)_[A-Z0-9_]+)`/g)].map((m) => m[1]!));

  it('documents every environment variable the gateway reads', () => {
    const secrets = Object.keys(SECRET_ENV).flatMap((name) => [name, `${name}_FILE`]);
    const read = [...ENV_BINDINGS.map((b) => b.name), ...secrets, ...DOCUMENT_ENV, 'GW_RUNTIME'];
    const missing = read.filter((name) => !documented.has(name));
    assert.deepEqual(missing, [], `add these to README.md "Environment variables": ${missing.join(', ')}`);
  });

  it('documents the generic GW_CONFIG__ form with working examples, and says fleet or device for every row', () => {
    assert.ok(table.includes(`| \`${GENERIC_ENV_PREFIX}<key>__<key>…\` |`), 'a row for the generic form');
    const rows = table.split('\n').filter((l) => /^\| `/.test(l));
    for (const row of rows) assert.match(row, /\| (fleet|device|either|\(image\)) \|$/, `a level for: ${row}`);
    // every documented single-value example applies to a config with an "ehr" and a "cloud" destination
    const base = {
      site: { id: 'hub-1' },
      destinations: [
        { id: 'ehr', type: 'mllp', receivingApplication: 'EHR', receivingFacility: 'C' },
        { id: 'cloud', type: 'fhir', baseUrl: 'https://fhir.example/r4', auth: { type: 'client_credentials', tokenUrl: 'https://a.example/t', clientId: 'gw', clientSecretFile: '/x' } },
      ],
    };
    const examples = [...table.matchAll(/`(GW_CONFIG__[A-Za-z0-9_]+)=([^`]+)`/g)].filter(([, name]) => !name!.includes('__serial__'));
    assert.ok(examples.length >= 4);
    for (const [, name, value] of examples) assert.doesNotThrow(() => parseConfig(base, { [name!]: value }), `${name}=${value}`);
  });
});
