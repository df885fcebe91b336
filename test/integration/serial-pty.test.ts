// End to end on REAL pseudo-terminals: socat makes a pty pair, a device simulator writes frames to one
// end, the gateway's serial driver reads the other and the readings reach an MLLP receiver as ORU^R01.
// Unplug/replug is socat killed and recreated at the same link path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { encodeStxEtx } from '../../device-drivers/serial/framers/stx-etx.ts';
import { freePort, gatewayConfig, ROOT, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

/** A pty pair: `dev` for the gateway, `sim` for the simulated device. */
class PtyPair {
  #socat: ChildProcess | undefined;
  constructor(
    readonly dev: string,
    readonly sim: string,
  ) {}

  async plug(): Promise<void> {
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.dev}`, `pty,raw,echo=0,link=${this.sim}`], { stdio: 'ignore' });
    this.#socat = socat;
    await waitFor('socat links', () => existsSync(this.dev) && existsSync(this.sim), 5000);
  }

  async unplug(): Promise<void> {
    const socat = this.#socat;
    this.#socat = undefined;
    if (!socat || socat.exitCode !== null) return;
    const exited = new Promise((r) => socat.once('exit', r));
    socat.kill('SIGTERM');
    await exited;
    await waitFor('socat links removed', () => !existsSync(this.dev) && !existsSync(this.sim), 5000);
  }
}

/** The device end: writes bytes and records what the gateway answers (ACK/NAK). */
class Device {
  readonly answers: number[] = [];
  #port: SerialPort | undefined;
  constructor(readonly path: string) {}

  async open(): Promise<void> {
    const port = new SerialPort({ path: this.path, baudRate: 9600, autoOpen: false });
    port.on('error', () => undefined); // the pty vanishes on unplug
    port.on('data', (b: Buffer) => this.answers.push(...b));
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.#port = port;
  }

  async write(bytes: Buffer | string): Promise<void> {
    const port = this.#port!;
    await new Promise<void>((resolve, reject) => port.write(bytes, (err) => (err ? reject(err) : port.drain(() => resolve()))));
  }

  async close(): Promise<void> {
    const port = this.#port;
    this.#port = undefined;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }
}

const SPOT = { checksum: 'sum8', checksumEncoding: 'ascii-hex', checksumCovers: 'payload-etx' } as const;
const spotFrame = (sys: number, minute: number): Buffer =>
  encodeStxEtx(Buffer.from(`SYS=${sys},DIA=80,MAP=95,PR=70,SPO2=98,TEMP=36.8,TU=C,TIME=2026-11-23 10:${String(minute).padStart(2, '0')}:00`), SPOT);
const ACK = 0x06;
const NAK = 0x15;

describe('serial devices on real pseudo-terminals reach the EHR', () => {
  let tmp: ReturnType<typeof tempDir>;
  let receiver: Receiver;
  let gateway: TestGateway;
  let spotPty: PtyPair;
  let oxiPty: PtyPair;
  let spot: Device;
  let oxi: Device;
  /** Values of OBX segments with this LOINC code, across all received messages. */
  const obxValues = (loinc: string): string[] =>
    receiver.messages.flatMap((m) => m.obx.filter((f) => f[3]!.split('^')[0] === loinc).map((f) => f[5]!));

  before(async () => {
    tmp = tempDir('serial');
    spotPty = new PtyPair(join(tmp.dir, 'spot-dev'), join(tmp.dir, 'spot-sim'));
    oxiPty = new PtyPair(join(tmp.dir, 'oxi-dev'), join(tmp.dir, 'oxi-sim'));
    await spotPty.plug();
    await oxiPty.plug();
    const port = await freePort();
    receiver = await startReceiver(port);
    gateway = await startTestGateway(
      gatewayConfig({
        dataDir: join(tmp.dir, 'data'),
        mllpPort: port,
        bindings: [
          { device: 'spot-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } },
          { device: 'oxi-1', patient: { mrn: 'MRN0002', system: 'urn:oid:1.2.3.4' } },
        ],
        serial: {
          profilesDir: join(ROOT, 'firmware-profiles'),
          reconnect: { initialMs: 50, maxMs: 200 },
          ports: [
            { path: spotPty.dev, profile: 'spot-check-vitals-stx', deviceId: 'spot-1' },
            { path: oxiPty.dev, profile: 'masimo-rad8-ascii1', deviceId: 'oxi-1' },
          ],
        },
      }),
    );
    spot = new Device(spotPty.sim);
    oxi = new Device(oxiPty.sim);
    await spot.open();
    await oxi.open();
  });

  after(async () => {
    await spot?.close();
    await oxi?.close();
    await gateway?.close();
    await receiver?.stop();
    await spotPty?.unplug();
    await oxiPty?.unplug();
    tmp?.cleanup();
  });

  it('delivers a spot-check record as ORU^R01 with the right OBX values, and ACKs the device after it is durable', async () => {
    await spot.write(spotFrame(131, 1));
    await waitFor('systolic 131 at the receiver', () => obxValues('8480-6').includes('131'));
    const msg = receiver.messages.find((m) => m.obx.some((f) => f[5] === '131'))!;
    assert.equal(msg.pid[3]!.split('^')[0], 'MRN0001');
    await waitFor('an ACK byte back on the wire', () => spot.answers.includes(ACK));
    await waitFor('SpO2 and temperature delivered too', () => obxValues('59408-5').length + obxValues('2708-6').length > 0 && obxValues('8310-5').includes('36.8'));
  });

  it('delivers a once-a-second oximeter line', async () => {
    await oxi.write('11/23/26 10:00:01 SN=0000056661 SPO2=097% BPM=066 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n\r\n');
    await waitFor('pulse 66 at the receiver', () => obxValues('8867-4').includes('66'));
  });

  it('refuses garbage, a bad checksum and an endless line, counts them, NAKs the bad frame and resynchronises', async () => {
    const bad = spotFrame(142, 2);
    bad[6] = 0x39; // a digit flipped in transit: SYS=1x2 no longer matches the checksum
    spot.answers.length = 0;
    await spot.write(Buffer.concat([Buffer.from('line noise\xff\xfe', 'latin1'), bad, Buffer.from([0x02]), Buffer.alloc(700, 0x41), spotFrame(143, 3)]));
    await oxi.write(`${'x'.repeat(3000)}\r\n11/23/26 10:00:02 SN=0000056661 SPO2=096% BPM=067 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n`);
    await waitFor('systolic 143 after the bad bytes', () => obxValues('8480-6').includes('143'));
    await waitFor('pulse 67 after the endless line', () => obxValues('8867-4').includes('67'));
    assert.ok(!obxValues('8480-6').includes('142') && !obxValues('8480-6').includes('192'), 'the corrupted frame never became a reading');
    await waitFor('NAK then ACK', () => spot.answers.includes(NAK) && spot.answers.lastIndexOf(ACK) > spot.answers.indexOf(NAK));
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    for (const reason of ['GW_ERR_SERIAL_GARBAGE', 'GW_ERR_SERIAL_CHECKSUM', 'GW_ERR_SERIAL_FRAME_TOO_LONG']) {
      assert.match(metrics, new RegExp(`gateway_frames_refused_total\\{transport="serial",reason="${reason}"[^}]*\\} [1-9]`), reason);
    }
    const warned = gateway.logs.filter((l) => l.msg === 'serial frame refused');
    assert.ok(warned.length >= 3);
    assert.ok(warned.every((l) => l.driver === 'serial' && typeof l.deviceId === 'string'));
    assert.ok(!JSON.stringify(warned).includes('SYS='), 'no clinical values in warn logs');
  });

  it('re-opens the port after the device is unplugged and plugged back, and the next reading arrives', async () => {
    await spot.close();
    await spotPty.unplug();
    await waitFor('the driver to notice the unplug', () => gateway.logs.some((l) => l.msg === 'serial port unavailable; re-opening with back-off' && l.deviceId === 'spot-1'));
    await spotPty.plug();
    spot = new Device(spotPty.sim);
    await spot.open();
    await waitFor('the driver to re-open', () => gateway.logs.filter((l) => l.msg === 'serial port open' && l.deviceId === 'spot-1').length >= 2);
    await spot.write(spotFrame(151, 4));
    await waitFor('systolic 151 after replug', () => obxValues('8480-6').includes('151'));
  });
});
