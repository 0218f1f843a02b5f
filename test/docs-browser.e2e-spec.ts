import type { Browser } from 'playwright-core';
import { describeInBrowser, launchChromium } from './helpers/browser';
import { bearer, startApp, TestApp } from './helpers/test-app';

const SECRET = 'sk_live_browser_' + 'Q7x9'.repeat(6);
const OTHER_HOST = 'bifrost-config.test';

// An admin in Swagger UI: authorize with a token, run the list endpoint, see the secret masked.
describeInBrowser('Swagger UI')('Swagger UI in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    // A name other than localhost, as an admin reaches the service after `docker compose up`:
    // browsers treat localhost as secure, so only another host shows what plain HTTP does.
    browser = await launchChromium([`--host-resolver-rules=MAP ${OTHER_HOST} 127.0.0.1`]);
    t = await startApp({ listen: true });
    await t.http().put('/api/scopes/global/configs/stripe_api_key').set(bearer(t.adminToken)).send({ type: 'secret', value: SECRET, description: 'Stripe live key' }).expect(201);
    await t.http().put('/api/scopes/global/configs/max_retries').set(bearer(t.adminToken)).send({ type: 'int', value: 3 }).expect(201);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('authorizes with a token, lists the global configs and shows the secret as ••••••', async () => {
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await page.goto(`${t.baseUrl}/docs`);
    await page.locator('button.authorize').first().click();
    await page.locator('.modal-ux input').first().fill(t.adminToken);
    await page.locator('.modal-ux button.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();

    const op = page.locator('#operations-Configs-ConfigsController_list');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('tr[data-param-name="scope"] input').fill('global');
    await op.locator('button.execute').click();
    const body = op.locator('.live-responses-table .response-col_description pre').first();
    await body.waitFor();
    const text = await body.innerText();
    expect(text).toContain('stripe_api_key');
    expect(text).toContain('••••••');
    expect(text).toContain('"masked": true');
    expect(text).not.toContain(SECRET);
    expect(await op.locator('.live-responses-table tr.response .response-col_status').first().innerText()).toContain('200');
    expect(await page.content()).not.toContain(SECRET);
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: false });
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
    // The token typed into the page lives in the page only: nothing outlives the tab.
    // (A string, evaluated in the page: the test tree has no DOM types.)
    const stored = await page.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })');
    expect(stored).not.toContain(t.adminToken);
    await page.close();
  });

  it('works over plain HTTP on a host other than localhost (no HTTPS-only headers by default)', async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    const url = `${t.baseUrl.replace('127.0.0.1', OTHER_HOST)}/docs`;
    expect(url.startsWith(`http://${OTHER_HOST}:`)).toBe(true);
    await page.goto(url);
    await page.locator('button.authorize').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('.opblock').count()).toBeGreaterThan(10);
    expect(failed).toEqual([]);
    await page.close();
  });
});
