// On Balena a changed fleet or device variable restarts the container: SIGTERM, then a start on the same volume
// with the new environment. Here GW_MLLP_PORT moves the EHR to a second receiver while a backlog waits:
// every reading answered 202 before the change arrives, nothing twice at the new receiver, nothing lost.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePort, heartRateReading, postReading, spawnGateway, startReceiver, tempDir, waitFor, writeConfigFile, type GatewayChild } from '../support/harness.ts';

describe('a restart caused by a changed variable', () => {
  const tmp = tempDir('variable-restart');
  const children: GatewayChild[] = [];
  const receivers: Array<Awaited<ReturnType<typeof startReceiver>>> = [];

  after(async () => {
    for (const gw of children) {
      if (gw.child.exitCode !== null || gw.child.signalCode !== null) continue;
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
    for (const r of receivers) await r.stop();
    tmp.cleanup();
  });

  it('sends the backlog from before the restart to the receiver the new GW_MLLP_PORT names, with nothing lost', async () => {
    const [oldPort, newPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const oldReceiver = await startReceiver(oldPort);
    receivers.push(oldReceiver);
    const file = writeConfigFile(tmp.dir, {
      site: { id: 'restart-test' },
      dataDir: join(tmp.dir, 'data'),
      http: { host: '127.0.0.1', port: httpPort },
      destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port: 1, receivingApplication: 'EHR', receivingFacility: 'CLINIC', ackTimeoutMs: 2000, connectTimeoutMs: 300 }],
      bindings: [{ device: 'kiosk-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } }],
      dispatch: { backoffInitialMs: 20, backoffMaxMs: 200 },
    });
    const env = { GW_SIMULATE: '0', GW_MLLP_PORT: String(oldPort) };

    const first = spawnGateway(file, env);
    children.push(first);
    const url = await first.url;
    const accepted: string[] = [];
    const post = async (i: number): Promise<void> => {
      const res = await postReading(url, heartRateReading(i));
      assert.equal(res.status, 202);
      accepted.push(...(res.json.observations as Array<{ id: string }>).map((o) => o.id.slice(0, 20)));
    };
    for (let i = 0; i < 3; i++) await post(i);
    await waitFor('the first readings at the old receiver', () => oldReceiver.messages.length >= 3);
    // the old EHR goes away (it moved): a backlog builds up
    await oldReceiver.stop();
    receivers.splice(receivers.indexOf(oldReceiver), 1);
    for (let i = 3; i < 13; i++) await post(i);

    // the field tech changes GW_MLLP_PORT in the dashboard: the supervisor stops the container …
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    // … and starts it with the new variable, on the same volume
    const newReceiver = await startReceiver(newPort);
    receivers.push(newReceiver);
    const second = spawnGateway(file, { ...env, GW_MLLP_PORT: String(newPort) });
    children.push(second);
    await second.url;

    const oldIds = new Set(oldReceiver.messages.filter((m) => m.ackCode === 'AA').map((m) => m.controlId));
    const backlog = accepted.filter((id) => !oldIds.has(id));
    assert.ok(backlog.length >= 10, 'the readings after the old receiver left were a backlog');
    await waitFor('the backlog at the new receiver', () => backlog.every((id) => newReceiver.messages.some((m) => m.controlId === id)));
    const delivered = new Set([...oldIds, ...newReceiver.messages.map((m) => m.controlId)]);
    assert.deepEqual(accepted.filter((id) => !delivered.has(id)), [], 'every reading answered 202 was delivered');
    assert.equal(new Set(newReceiver.messages.map((m) => m.controlId)).size, newReceiver.messages.length, 'nothing twice at the new receiver');
    assert.deepEqual(newReceiver.messages.map((m) => m.controlId).filter((id) => oldIds.has(id)), [], 'what the old receiver acknowledged is not sent again');
  });
});
