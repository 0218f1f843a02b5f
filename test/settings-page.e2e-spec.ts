import type { Browser, Page } from 'playwright-core';
import { describeInBrowser, launchChromium } from './helpers/browser';
import { rawRows } from './helpers/raw-db';
import { bearer, seedOrg, startApp, TestApp } from './helpers/test-app';

/**
 * Issue 18: Settings → Configuration in headless Chromium, as an admin and as a member use it.
 * Like the Swagger UI test: skipped with one line where no Chromium is installed, run for real in CI
 * (REQUIRE_BROWSER=1). The page's script is the build's (dist/settings/web/app.js): `npm test` builds first.
 */

const SECRET = 'sk_live_page_' + 'Zq8w'.repeat(6);
const NEW_SECRET = 'sk_live_rotated_' + 'Mv3k'.repeat(6);
const HOSTILE = '<img src=x onerror=alert(1)>';

describeInBrowser('settings page')('Settings → Configuration page in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let acme: Awaited<ReturnType<typeof seedOrg>>;

  beforeAll(async () => {
    browser = await launchChromium();
    t = await startApp({ listen: true });
    acme = await seedOrg(t, 'acme');
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** A new tab, signed in with `token`; collects console errors and dialogs. */
  async function signedIn(token: string): Promise<{ page: Page; errors: string[]; alerts: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    const alerts: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => {
      if (d.type() === 'confirm') void d.accept();
      else {
        alerts.push(d.message());
        void d.dismiss();
      }
    });
    const res = await page.goto(`${t.baseUrl}/settings`);
    expect(page.url()).toBe(`${t.baseUrl}/settings/configuration`);
    expect(res?.headers()['cache-control']).toBe('no-store');
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('table').first().waitFor();
    return { page, errors, alerts };
  }

  const rowOf = (page: Page, key: string) => page.locator(`tr[data-key="${key}"]`);

  it('an admin adds a secret and a string: the secret masked, the string in clear; edits the secret by re-entering it; deletes with confirmation', async () => {
    const { page, errors, alerts } = await signedIn(t.adminToken);
    await page.getByLabel('Scope').selectOption({ label: 'acme' });
    await page.getByRole('heading', { name: /Configuration · acme/ }).waitFor();

    // + Add config: a secret.
    await page.getByRole('button', { name: 'Add config' }).click();
    await page.getByLabel('Key', { exact: true }).fill('stripe_api_key');
    await page.getByLabel('Type', { exact: true }).selectOption('secret');
    await page.getByLabel('Value', { exact: true }).fill(SECRET);
    expect(await page.getByLabel('Value', { exact: true }).getAttribute('type')).toBe('password');
    await page.getByLabel('Description', { exact: true }).fill(HOSTILE);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved stripe_api_key.').waitFor();

    // A string.
    await page.getByRole('button', { name: 'Add config' }).click();
    await page.getByLabel('Key', { exact: true }).fill('site_url');
    await page.getByLabel('Value', { exact: true }).fill('https://acme.example');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved site_url.').waitFor();

    expect(await rowOf(page, 'stripe_api_key').locator('td.value').innerText()).toBe('••••••');
    // A secret can be compared by its fingerprint (a tooltip), never read.
    expect(await rowOf(page, 'stripe_api_key').locator('td.value').getAttribute('title')).toMatch(/^fingerprint [0-9a-f]{12}$/);
    expect(await rowOf(page, 'site_url').locator('td.value').innerText()).toBe('https://acme.example');
    // The hostile description is text, not markup: no image element, no alert.
    expect(await rowOf(page, 'stripe_api_key').locator('td').nth(2).innerText()).toBe(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);

    // An error from the API is shown next to its field, in the API's words.
    await page.getByRole('button', { name: 'Add config' }).click();
    await page.getByLabel('Key', { exact: true }).fill('bad key!');
    await page.getByLabel('Value', { exact: true }).fill('x');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#err-key').filter({ hasText: 'INVALID_KEY' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();

    // Edit the secret: the value starts empty and is required.
    await page.getByRole('button', { name: 'Edit stripe_api_key' }).click();
    expect(await page.getByLabel('Value', { exact: true }).inputValue()).toBe('');
    expect(await page.getByLabel('Value', { exact: true }).getAttribute('placeholder')).toBe('Enter the new value');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#err-value').filter({ hasText: 'Enter the new value' }).waitFor();
    await page.getByLabel('Value', { exact: true }).fill(NEW_SECRET);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved stripe_api_key.').waitFor();
    const read = await t.http().get('/api/sdk/configs/stripe_api_key').set(bearer(acme.service)).expect(200);
    expect(read.body.value).toBe(NEW_SECRET);

    // Editing a plain value starts from its current value.
    await page.getByRole('button', { name: 'Edit site_url' }).click();
    expect(await page.getByLabel('Value', { exact: true }).inputValue()).toBe('https://acme.example');
    await page.getByRole('button', { name: 'Cancel' }).click();

    // No plaintext of either secret anywhere in the page or its storage after saving.
    const dom = await page.evaluate<string>('document.documentElement.outerHTML + JSON.stringify([...document.querySelectorAll("input, textarea")].map((e) => e.value))');
    const stored = await page.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })');
    for (const text of [dom, stored]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(NEW_SECRET);
    }
    expect(stored).not.toContain(t.adminToken);
    // No control reveals or copies a value.
    expect(await page.getByRole('button', { name: /reveal|show|copy/i }).count()).toBe(0);

    // The history of a key, from the audit log: who and what, never a value.
    await page.getByRole('button', { name: 'History of stripe_api_key' }).click();
    const history = page.getByRole('region', { name: 'History of stripe_api_key' });
    await history.getByRole('cell', { name: 'config.update' }).first().waitFor();
    expect(await history.innerText()).not.toContain(NEW_SECRET);

    // The effective view shows each row's source.
    await t.http().put('/api/scopes/global/configs/global_timeout').set(bearer(t.adminToken)).send({ type: 'int', value: 30 }).expect(201);
    await page.getByLabel('Effective view (with global)').check();
    await rowOf(page, 'global_timeout').waitFor();
    expect(await rowOf(page, 'global_timeout').innerText()).toContain('global');

    // Delete asks for confirmation (accepted by the dialog handler above).
    await page.getByLabel('Effective view (with global)').uncheck();
    await page.getByRole('button', { name: 'Delete site_url' }).click();
    await page.getByText('Deleted site_url.').waitFor();
    await t.http().get(`/api/scopes/${acme.org.id}/configs/site_url`).set(bearer(t.adminToken)).expect(404);

    expect(alerts).toEqual([]);
    expect(errors.filter((e) => !/status of 4\d\d/.test(e))).toEqual([]);
    if (process.env.SCREENSHOT_SETTINGS) await page.screenshot({ path: process.env.SCREENSHOT_SETTINGS, fullPage: true });
    await page.close();
  });

  it('a member sees a read-only list of its org, secrets masked, with no way to change anything', async () => {
    await t.http().put(`/api/scopes/${acme.org.id}/configs/member_visible`).set(bearer(t.adminToken)).send({ type: 'secret', value: SECRET }).expect(201);
    const { page, errors } = await signedIn(acme.member);
    await page.getByRole('heading', { name: /Configuration · acme/ }).waitFor();
    await rowOf(page, 'member_visible').waitFor();
    expect(await rowOf(page, 'member_visible').locator('td.value').innerText()).toBe('••••••');
    expect(await page.getByRole('button', { name: 'Add config' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^(Edit|Delete|History)/ }).count()).toBe(0);
    expect(await page.getByText('Read only').count()).toBe(1);
    expect(await page.content()).not.toContain(SECRET);
    expect(errors).toEqual([]);
    // Every change the page made went through the API as the signed-in principal: none by the member.
    const writes = await rawRows<{ n: number }>(t, "SELECT COUNT(*) AS n FROM audit_entries WHERE action IN ('config.create', 'config.update', 'config.delete') AND actor_role = ?", ['member']);
    expect(Number(writes[0].n)).toBe(0);
    await page.close();
  });

  it('pages through a long list and filters it by prefix and type', async () => {
    const org = await seedOrg(t, 'paged');
    for (let i = 0; i < 55; i++) {
      await t.http().put(`/api/scopes/${org.org.id}/configs/k_${String(i).padStart(2, '0')}`).set(bearer(t.adminToken)).send(i % 5 === 0 ? { type: 'int', value: i } : { type: 'string', value: `v${i}` }).expect(201);
    }
    const { page } = await signedIn(org.orgAdmin);
    await rowOf(page, 'k_00').waitFor();
    expect(await page.locator('tbody tr').count()).toBe(50);
    await page.getByRole('button', { name: 'Next page' }).click();
    await rowOf(page, 'k_54').waitFor();
    expect(await page.locator('tbody tr').count()).toBe(5);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await rowOf(page, 'k_00').waitFor();
    await page.getByLabel('Key prefix').fill('k_1');
    await page.getByLabel('Filter by type').selectOption('int');
    await page.getByRole('button', { name: 'Filter' }).click();
    await rowOf(page, 'k_15').waitFor();
    expect(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')))).toEqual(['k_10', 'k_15']);
    await page.close();
  });

  it('a refused token is told so on the sign-in form, and nothing else is shown', async () => {
    const page = await browser.newPage();
    await page.goto(`${t.baseUrl}/settings/configuration`);
    await page.getByLabel('Token').fill('bft_' + 'x'.repeat(43));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#err-token').filter({ hasText: 'INVALID_TOKEN' }).waitFor();
    expect(await page.getByRole('table').count()).toBe(0);
    await page.close();
  });
});
