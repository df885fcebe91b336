import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryLogger } from '../../../gateway/logger.ts';
import { createMetrics } from '../../../gateway/metrics.ts';
import { decodeCharacteristic } from './index.ts';
import { createDecodeReporter } from './report.ts';
import { hex, testContext } from './testing.ts';

describe('what a BLE decode outcome leaves in the log and the metrics', () => {
  it('counts not-carried fields, logs notes at debug only and a refusal at warn without values', async () => {
    const { logger, lines } = createMemoryLogger('debug');
    const metrics = createMetrics({ site: 'test' });
    const reporter = createDecodeReporter(logger.child({ driver: 'ble', deviceId: 'ble:1' }), metrics);
    const ok = decodeCharacteristic('2a37', hex('1E 55 3200 2100'), testContext({ onNote: reporter.note }));
    assert.ok(ok.ok);
    const refused = decodeCharacteristic('2a37', hex('04 FF'), testContext());
    assert.ok(!refused.ok);
    reporter.refused('Heart Rate Measurement', refused.issues);

    const text = await metrics.registry.metrics();
    assert.match(text, /gateway_ble_fields_not_carried_total\{[^}]*reason="rrIntervals"[^}]*\} 1/);
    assert.match(text, /gateway_frames_refused_total\{[^}]*reason="GW_ERR_BLE_NO_CONTACT"[^}]*\} 1/);
    const aboveDebug = lines.filter((l) => l.level !== 'debug');
    assert.equal(aboveDebug.length, 1);
    assert.equal(aboveDebug[0]!.level, 'warn');
    assert.equal(aboveDebug[0]!.deviceId, 'ble:1');
    assert.doesNotMatch(JSON.stringify(aboveDebug), /kJ|ms"|255/);
  });
});
