import { existsSync } from 'node:fs';
import { Browser, chromium } from 'playwright-core';

/** Debian's Chromium, or CHROMIUM_PATH. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * `describe` for a browser test: a fresh machine has no browser, and there the test is skipped with
 * one line saying why; CI sets REQUIRE_BROWSER=1 (.ci/run installs Debian's chromium), and then a
 * missing browser fails the run (launchChromium throws).
 */
export function describeInBrowser(what: string): jest.Describe {
  if (existsSync(CHROMIUM) || process.env.REQUIRE_BROWSER === '1') return describe;
  process.stderr.write(`skipped: the ${what} browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)\n`);
  return describe.skip;
}

/**
 * Headless Chromium as this machine runs it: without the background-networking flags its
 * connections are refused by the closed network, many at a time.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing and REQUIRE_BROWSER=1: install Debian's chromium (.ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...extraArgs, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
