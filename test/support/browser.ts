// Debian's chromium driven by Playwright (playwright-core: no browser download), headless, for
// the dashboard's tests and benchmark. Playwright gives each launch a fresh --user-data-dir of its
// own (and removes it on close); each context in it is as isolated as a separate profile, so two
// users can be signed in side by side.

import { chromium, type Browser } from 'playwright-core';

/** Where setup-host.sh installs it (Debian's `chromium` package). */
export const CHROMIUM = process.env.SLIPWAY_CHROMIUM ?? '/usr/bin/chromium';

export interface LaunchedBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<LaunchedBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}
