// Debian's headless Chromium, launched the one way these tests run it: playwright-core with
// /usr/bin/chromium and the flags a root container needs (headless: true makes Playwright pass
// --headless itself; --no-sandbox is then the only way Chromium starts as root).
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
