// Debian's headless Chromium, launched the one way these tests run it: playwright-core with
// /usr/bin/chromium and the flags a root container needs (headless: true makes Playwright pass
// --headless itself; --no-sandbox is then the only way Chromium starts as root).
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { importDep } from './harness.mjs';

const { chromium } = await importDep('playwright-core');

export const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_TIMEOUT_MS = 60_000;

// `extraArgs` go after the fixed flags (e.g. a certificate to trust). Throws an error that says
// how to install Chromium when it does not start.
export async function launchChromium(extraArgs = []) {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: LAUNCH_TIMEOUT_MS,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        ...extraArgs,
      ],
    });
  } catch (e) {
    throw new Error(`Chromium (${CHROMIUM}) did not launch: ${e.message}\n(install it with scripts/install-deps)`, { cause: e });
  }
}

// Where a suite saves its screenshots: $TEST_OUTPUT_DIR/<suite> when set, else a new temp dir.
export function screenshotDir(suite) {
  if (process.env.TEST_OUTPUT_DIR) {
    const dir = path.join(process.env.TEST_OUTPUT_DIR, suite);
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  return mkdtempSync(path.join(os.tmpdir(), `bouncer-${suite}-`));
}

// Saves the page as `dir`/`name`.png and lists the file in the test's log.
export async function screenshot(t, page, dir, name) {
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${file}`);
  console.log(`screenshot: ${file}`);
}

// Opens `url` in a new context of `browser` (closed with the test) and waits until the page sets
// window[readyFlag] (its module loaded); fails with the page's errors when it does not.
export async function openModulePage(t, browser, url, readyFlag, timeoutMs) {
  const context = await browser.newContext();
  t.after(() => context.close().catch(() => {}));
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const res = await page.goto(url, { timeout: timeoutMs });
  if (res?.status() !== 200) throw new Error(`${url} answered ${res?.status()}`);
  await page.waitForFunction((flag) => window[flag] === true, readyFlag, { timeout: timeoutMs }).catch((e) => {
    throw new Error(`the page's module did not load: ${e.message}; page errors: ${pageErrors.join('; ')}`);
  });
  return page;
}
