// The JavaScript example (examples/js) as a reader would run it: backend.mjs against a real
// Bouncer, its page (index.html) in headless Chromium. Both credential routes (plain fetch and
// @decartai/sdk) give a credential the page connects with; a message comes back from `echo`;
// the permanent key never reaches the page; a session capped at 10 s is renewed (the server's
// newest feature: that case fails on a server without it). Screenshots go to $TEST_OUTPUT_DIR
// (else a fresh temporary directory); their paths are printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchChromium, openModulePage, screenshot, screenshotDir } from '../lib/chromium.mjs';
import { REPO_ROOT, request, startServer, waitFor } from '../lib/harness.mjs';

const BACKEND = path.join(REPO_ROOT, 'examples', 'js', 'backend.mjs');
const PAGE_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 15_000;

let bouncer;
let sk;
let backend;
let browser;
let shots;

// Runs backend.mjs on a free port; resolves {origin, child, output()}.
async function startBackend(env) {
  const child = spawn(process.execPath, [BACKEND], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (output += d));
  const match = await waitFor(() => output.match(/listening (http:\/\/127\.0\.0\.1:\d+)/) || child.exitCode !== null, {
    timeoutMs: START_TIMEOUT_MS,
    what: 'backend.mjs to listen',
  });
  if (child.exitCode !== null) throw new Error(`backend.mjs exited ${child.exitCode}: ${output}`);
  return { origin: match[1], child, output: () => output };
}

before(async () => {
  bouncer = await startServer();
  sk = await bouncer.defaultKey();
  backend = await startBackend({ BOUNCER_URL: bouncer.base, BOUNCER_SK: sk, SESSION_CAP_SECONDS: '10' });
  browser = await launchChromium();
  shots = screenshotDir('examples_js');
});

after(async () => {
  await browser?.close().catch(() => {});
  if (backend && backend.child.exitCode === null) {
    backend.child.kill('SIGTERM');
    await new Promise((resolve) => backend.child.once('exit', resolve));
  }
  await bouncer?.cleanup();
});

function openPage(t) {
  return openModulePage(t, browser, `${backend.origin}/`, 'exampleReady', PAGE_TIMEOUT_MS);
}

const logLines = (page) => page.$$eval('#log li', (items) => items.map((li) => li.textContent));

// Connects through `route`, sends the default message, waits for its reply on the page.
async function connectAndEcho(page, route) {
  await page.selectOption('#route', route);
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('state').textContent === 'open');
  await page.click('#send');
  await page.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes('reply: hello, model')));
}

test('the backend mints for its page, with fetch and with @decartai/sdk, and never gives out the sk_ key', { timeout: 60_000 }, async () => {
  for (const route of ['/api/credential', '/api/credential-sdk']) {
    const res = await request(backend.origin, { method: 'POST', path: route, headers: { Origin: backend.origin } });
    assert.equal(res.status, 200, `${route}: ${res.text}\n${backend.output()}`);
    assert.equal(res.json.kind, 'token');
    assert.match(res.json.token, /^ek_eyJ/);
    assert.ok(Date.parse(res.json.expiresAt) > Date.now());
    assert.ok(!res.text.includes(sk), `${route} holds no sk_ key`);
  }
  const page = await request(backend.origin, { path: '/' });
  assert.equal(page.status, 200);
  assert.ok(!page.text.includes(sk));
});

test('the page connects with each route and shows the reply', { timeout: 90_000 }, async (t) => {
  for (const [name, route] of [
    ['fetch', '/api/credential'],
    ['sdk', '/api/credential-sdk'],
  ]) {
    await t.test(name, async (tt) => {
      const page = await openPage(tt);
      await connectAndEcho(page, route);
      const lines = await logLines(page);
      assert.ok(lines.some((l) => l.includes('reply: hello, model')), lines.join('\n'));
      assert.ok(!lines.some((l) => / error|refused/.test(l)), lines.join('\n'));
      assert.ok(!(await page.content()).includes(sk), 'the sk_ key is nowhere in the page');
      await screenshot(tt, page, shots, `echo-${name}`);
      await page.click('#close');
      await page.waitForFunction(() => document.getElementById('state').textContent === 'closed');
    });
  }
});

test('the page renews a session capped at 10 s and shows the renewal', { timeout: 60_000 }, async (t) => {
  const page = await openPage(t);
  await connectAndEcho(page, '/api/credential');
  // A 10 s session is warned at 5 s left; the page renews at once.
  await page
    .waitForFunction(() => Number(document.getElementById('renewals').textContent) >= 1, null, { timeout: 20_000 })
    .catch(async (e) => {
      await screenshot(t, page, shots, 'renewal-failed');
      throw new Error(`no renewal on the page: ${e.message}\n${(await logLines(page)).join('\n')}`);
    });
  await screenshot(t, page, shots, 'renewal');
  const lines = await logLines(page);
  assert.ok(lines.some((l) => l.includes('renewed until')), lines.join('\n'));
  assert.equal(await page.textContent('#state'), 'open');
});
