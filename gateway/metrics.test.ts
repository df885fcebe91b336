import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './config.ts';
import { createMetrics } from './metrics.ts';

describe('fleet labels on metrics', () => {
  it('labels every series with the site and the RPM program set by fleet variables', async () => {
    const { config } = loadConfig({ GW_SITE_ID: 'home-17', GW_SITE_PROGRAM: 'chf-remote' });
    const metrics = createMetrics({ site: config.site.id, ...(config.site.program ? { program: config.site.program } : {}) }, { defaultMetrics: false });
    metrics.readingsReceived.inc({ transport: 'kiosk' });
    const text = await metrics.registry.metrics();
    const series = text.split('\n').filter((l) => l.startsWith('gateway_readings_received_total'));
    assert.ok(series.length > 0, text);
    for (const line of series) assert.match(line, /site="home-17"/), assert.match(line, /program="chf-remote"/);
  });

  it('leaves the program label out when no program is configured', async () => {
    const metrics = createMetrics({ site: 'clinic-2' }, { defaultMetrics: false });
    metrics.readingsReceived.inc({ transport: 'kiosk' });
    const text = await metrics.registry.metrics();
    assert.match(text, /gateway_readings_received_total\{[^}]*site="clinic-2"/);
    assert.doesNotMatch(text, /program=/);
  });

  it('refuses a program name that cannot be a label value safely', () => {
    assert.throws(() => loadConfig({ GW_SITE_PROGRAM: 'chf remote/"x"' }), /site\.program/);
  });
});
