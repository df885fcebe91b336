// The status page in a real browser (Debian `chromium` driven by playwright-core): a clinic's IT lead logs in,
// sees a reading arrive live, sees a reading the EHR refused in the dead-letter list, replays it, and sees it
// delivered. A screenshot of the page on a 7-inch screen (800×480) is saved as a test artifact.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { hashPassword } from '../../device-drivers/mqtt/password.ts';
import { ROOT, freePort, gatewayConfig, heartRateReading, postReading, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
/** The EHR refuses this heart rate once (AR: say, an interface mapping it does not know yet), then takes it. */
const REFUSED_VALUE = 187;

describe('the status page in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)` }, () => {
  const tmp = tempDir('status-page');
  let browser: Browser;
  let page: Page;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let gateway: Awaited<ReturnType<typeof startTestGateway>>;

  before(async () => {
    const port = await freePort();
    receiver = await startReceiver(port, (_id, count, text) => (text.includes(`|${REFUSED_VALUE}|`) && count === 1 ? 'AR' : 'AA'));
    gateway = await startTestGateway(
      gatewayConfig({
        dataDir: tmp.dir,
        mllpPort: port,
        admin: { users: [{ name: 'it-lead', role: 'operator', passwordHash: await hashPassword('correct horse battery') }] },
      }),
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 800, height: 480 } }); // a 7-inch kiosk display
  });

  after(async () => {
    await browser?.close();
    await gateway?.close();
    await receiver?.stop();
    tmp.cleanup();
  });

  it('asks for a login, refuses a wrong password, and shows the dashboard after the right one', async () => {
    await page.goto(gateway.url);
    await page.getByLabel('User').waitFor();
    assert.equal(await page.locator('#dashboard').isVisible(), false, 'no data before login');
    await page.getByLabel('User').fill('it-lead');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong user or password.').waitFor();
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    assert.match((await page.locator('#who').textContent()) ?? '', /it-lead \(operator\)/);
    await page.locator('#destinations tbody tr', { hasText: 'ehr (mllp)' }).waitFor();
  });

  it('shows a reading arrive live, without a reload', async () => {
    await page.locator('#devices td.empty').waitFor(); // nothing yet
    const res = await postReading(gateway.url, heartRateReading(1));
    assert.equal(res.status, 202);
    await page.getByText('New reading from kiosk-1', { exact: false }).or(page.locator('#devices tbody tr', { hasText: 'kiosk-1' })).first().waitFor();
    const row = page.locator('#devices tbody tr', { hasText: 'kiosk-1' });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /kiosk.*accepted/);
    await page.locator('#audit tbody tr', { hasText: 'delivered' }).first().waitFor();
  });

  it('lists a reading the EHR refused as a dead letter, replays it, and shows it delivered', async () => {
    const res = await postReading(gateway.url, heartRateReading(2, { components: [{ metric: 'heart-rate', value: REFUSED_VALUE, unit: '/min' }] }));
    assert.equal(res.status, 202);
    const id = (res.json.observations as Array<{ id: string }>)[0]!.id;
    const letter = page.locator('#dead tr', { hasText: id.slice(0, 12) });
    await letter.waitFor();
    assert.match((await letter.textContent()) ?? '', /AR|REJECT/i);
    await page.screenshot({ path: screenshotPath('status-page-dead-letter.png'), fullPage: true });

    await page.getByRole('button', { name: 'Replay ehr' }).click();
    await page.getByText(/Replayed 1 reading/).waitFor();
    await waitFor('the replayed reading accepted by the EHR', () => receiver.messages.some((m) => m.controlId === id.slice(0, 20) && m.ackCode === 'AA'));
    await page.locator('#dead', { hasText: 'None.' }).waitFor();
    await page.locator('#audit tbody tr', { hasText: 'replayed' }).first().waitFor();
    const ehr = page.locator('#destinations tbody tr', { hasText: 'ehr (mllp)' });
    assert.match((await ehr.textContent()) ?? '', /connected/);
  });

  it('fits a 7-inch screen without sideways scrolling, and every control has a name', async () => {
    // Evaluated in the page (strings: this project's TypeScript has no DOM types).
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
    const unnamed = (await page.evaluate(
      `[...document.querySelectorAll('button, input')].filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.textContent?.trim() || e.placeholder)).length`,
    )) as number;
    assert.equal(unnamed, 0);
    await page.screenshot({ path: screenshotPath('status-page.png'), fullPage: true });
  });
});

function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
