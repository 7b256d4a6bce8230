// The JavaScript client (clients/js) in a real browser: headless Chromium loads
// clients/js/src/index.js by <script type="module"> from a page this test serves on 127.0.0.1,
// gets its credentials from the page server's backend route (which mints with the package's
// mintToken, server side, with the sk_ key the page never sees), keeps a session capped at 10 s
// alive past 25 s by renewing in place, and shows each refusal as its typed error on the page.
// Screenshots go to $TEST_OUTPUT_DIR (else a fresh temporary directory); their paths are printed.
//
// Renewal and maxUses are the server's newest features: those cases fail on a server without them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { launchChromium, openModulePage, screenshot, screenshotDir } from '../lib/chromium.mjs';
import { REPO_ROOT, startServer, withTimeout } from '../lib/harness.mjs';

const CLIENT_SRC = path.join(REPO_ROOT, 'clients', 'js', 'src');
const { mintToken } = await import(pathToFileURL(path.join(CLIENT_SRC, 'index.js')).href);

const PAGE_TIMEOUT_MS = 15_000;

// The page: imports the package, asks /api/credential for credentials, renders every event
// as a row of #log (and refusals as rows of #refusals) and exposes two functions to the test.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>@bouncer/client in Chromium</title>
<style>body{font:14px system-ui;margin:1em} li{margin:.2em 0} .error{color:#a00} .ok{color:#070}</style></head>
<body>
<h1>@bouncer/client</h1>
<h2>Session</h2><ul id="log"></ul>
<h2>Refusals</h2><table id="refusals" border="1" cellpadding="4"><tr><th>case</th><th>error</th><th>closeCode</th><th>reason</th><th>permanent</th></tr></table>
<script type="module">
import { connect, RefusedError } from '/clients/js/src/index.js';

const log = (text, cls = '') => {
  const li = document.createElement('li');
  li.textContent = new Date().toISOString().slice(11, 19) + ' ' + text;
  li.className = cls;
  document.getElementById('log').append(li);
};

async function credential(options) {
  const res = await fetch('/api/credential', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(options),
  });
  if (!res.ok) throw new Error('the backend answered ' + res.status + ': ' + await res.text());
  return res.json();
}

// A session to echo with a token capped at capSeconds, renewed from the backend; sends a message
// every 2 s for keepSeconds, then closes. Resolves what happened.
window.keepAlive = async ({ baseUrl, capSeconds, keepSeconds }) => {
  const options = { constraints: { realtime: { maxSessionDuration: capSeconds } } };
  const story = { echoes: 0, sent: 0, renewed: [], expiring: [], errors: [], states: [] };
  const session = connect(await credential(options), {
    baseUrl, model: 'echo', reconnect: false,
    getCredential: () => credential(options),
    onOpen: ({ protocol }) => log('open (' + protocol + '), deadline ' + session.deadline?.toISOString(), 'ok'),
    onMessage: (data) => { story.echoes += 1; log('echo: ' + data); },
    onExpiring: ({ secondsLeft }) => { story.expiring.push(secondsLeft); log('expiring in ' + secondsLeft + ' s'); },
    onRenewed: ({ deadline }) => { story.renewed.push(deadline && deadline.toISOString()); log('renewed until ' + deadline?.toISOString(), 'ok'); },
    onError: (e) => { story.errors.push(e.name + ': ' + e.message); log(e.name + ': ' + e.message, 'error'); },
    onClose: ({ code, reason }) => log('closed ' + code + ' ' + reason),
  });
  await session.opened;
  const started = Date.now();
  while (Date.now() - started < keepSeconds * 1000) {
    if (session.readyState !== 'open') break;
    session.send('tick ' + story.sent++);
    await new Promise((r) => setTimeout(r, 2000));
  }
  story.states.push(session.readyState);
  story.elapsedMs = Date.now() - started;
  session.close(1000, 'done');
  await session.closed;
  return story;
};

// One refused connection: the typed error, rendered in #refusals and returned.
window.refusal = async ({ label, baseUrl, model, credentialOptions, token }) => {
  const cred = token ? { kind: 'token', token, expiresAt: '2099-01-01T00:00:00Z' } : await credential(credentialOptions);
  if (credentialOptions?.waitMs) await new Promise((r) => setTimeout(r, credentialOptions.waitMs));
  const session = connect(cred, { baseUrl, model, reconnect: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
  let error;
  try { await session.opened; } catch (e) { error = e; }
  const row = document.createElement('tr');
  const cells = error
    ? [label, error.name, error.closeCode, error.reason, error.permanent]
    : [label, 'admitted (no error)', '', '', ''];
  for (const value of cells) { const td = document.createElement('td'); td.textContent = String(value); row.append(td); }
  document.getElementById('refusals').append(row);
  session.close();
  return error && {
    name: error.name, isRefusedError: error instanceof RefusedError, closeCode: error.closeCode,
    reason: error.reason, permanent: error.permanent, retryable: error.retryable, message: error.message,
  };
};
window.ready = true;
</script></body></html>
`;

// The page server: the page, the package's source files, and the backend route.
function startPageServer({ baseUrl, apiKey }) {
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(PAGE);
      } else if (req.method === 'GET' && /^\/clients\/js\/src\/[a-z_]+\.js$/.test(url.pathname)) {
        const file = path.join(CLIENT_SRC, path.basename(url.pathname));
        res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(readFileSync(file));
      } else if (req.method === 'POST' && url.pathname === '/api/credential') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const { waitMs, ...options } = JSON.parse(body || '{}');
        const credential = await mintToken({ baseUrl, apiKey, ...options });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify(credential));
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      res.writeHead(error.status || 500, { 'Content-Type': 'text/plain' }).end(String(error.message));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve({
        origin: `http://127.0.0.1:${server.address().port}`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      }),
    );
  });
}

let bouncer;
let pageServer;
let browser;
let shots;

before(async () => {
  // No clock-skew leeway: a token minted with expiresIn 1 is refused as expired two seconds later.
  bouncer = await startServer({ args: ['--leeway-seconds', '0'] });
  const sk = await bouncer.defaultKey();
  pageServer = await startPageServer({ baseUrl: bouncer.base, apiKey: sk });
  browser = await launchChromium();
  shots = screenshotDir('client_js_browser');
});

after(async () => {
  await browser?.close().catch(() => {});
  await pageServer?.close();
  await bouncer?.cleanup();
});

function openPage(t) {
  return openModulePage(t, browser, `${pageServer.origin}/`, 'ready', PAGE_TIMEOUT_MS);
}

test('in Chromium: each refusal is a typed RefusedError, shown on the page', { timeout: 120_000 }, async (t) => {
  const page = await openPage(t);
  const baseUrl = bouncer.base;
  const cases = [
    { label: 'Unknown model', args: { model: 'no-such-model', credentialOptions: {} }, closeCode: 1008 },
    { label: 'Model not allowed', args: { model: 'echo', credentialOptions: { allowedModels: ['demo'] } }, closeCode: 1008 },
    {
      label: 'Origin not allowed',
      args: { model: 'echo', credentialOptions: { allowedOrigins: ['https://app.example.com'] } },
      closeCode: 1008,
    },
    { label: 'Token expired', args: { model: 'echo', credentialOptions: { expiresIn: 1, waitMs: 2500 } }, closeCode: 1008 },
    { label: 'Invalid API key', args: { model: 'echo', token: 'ek_eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln' }, closeCode: 1008 },
  ];
  const failures = [];
  for (const c of cases) {
    const got = await withTimeout(page.evaluate((args) => window.refusal(args), { label: c.label, baseUrl, ...c.args }), 30_000, c.label);
    try {
      assert.ok(got, `${c.label}: the session was admitted`);
      assert.equal(got.isRefusedError, true, `${c.label}: ${JSON.stringify(got)}`);
      assert.equal(got.reason, c.label);
      assert.equal(got.closeCode, c.closeCode);
      assert.equal(got.permanent, true);
      assert.equal(got.retryable, false);
      assert.ok(!/eyJ[A-Za-z0-9_-]{10}/.test(got.message), `no credential in the message: ${got.message}`);
    } catch (e) {
      failures.push(e.message);
    }
  }
  // What the page shows: one row per case, with the reason.
  const rows = await page.evaluate(() => [...document.querySelectorAll('#refusals tr')].slice(1).map((tr) => tr.textContent));
  await screenshot(t, page, shots, 'refusals');
  assert.deepEqual(failures, []);
  assert.equal(rows.length, cases.length);
  for (const c of cases) assert.ok(rows.some((r) => r.includes(c.label) && r.includes('RefusedError')), `${c.label} on the page: ${rows}`);
});

test('in Chromium: maxUses 1, the second admission is Token already used', { timeout: 60_000 }, async (t) => {
  const page = await openPage(t);
  const baseUrl = bouncer.base;
  // The backend mints one single-use token; the page uses it twice.
  const token = await page.evaluate(async () => {
    const res = await fetch('/api/credential', { method: 'POST', body: JSON.stringify({ maxUses: 1 }), headers: { 'Content-Type': 'application/json' } });
    if (!res.ok) throw new Error(`the backend answered ${res.status}: ${await res.text()}`);
    return (await res.json()).token;
  });
  const first = await page.evaluate((args) => window.refusal(args), { label: 'first use', baseUrl, model: 'echo', token });
  assert.equal(first, undefined, `the first use is admitted: ${JSON.stringify(first)}`);
  const second = await page.evaluate((args) => window.refusal(args), { label: 'Token already used', baseUrl, model: 'echo', token });
  await screenshot(t, page, shots, 'max-uses');
  assert.equal(second?.reason, 'Token already used', JSON.stringify(second));
  assert.equal(second.permanent, true);
});

test('in Chromium: a session capped at 10 s stays alive past 25 s by renewing', { timeout: 90_000 }, async (t) => {
  const page = await openPage(t);
  const story = await withTimeout(
    page.evaluate((args) => window.keepAlive(args), { baseUrl: bouncer.base, capSeconds: 10, keepSeconds: 26 }),
    60_000,
    'the renewed session',
  );
  await screenshot(t, page, shots, 'renewal');
  assert.deepEqual(story.errors, []);
  assert.deepEqual(story.states, ['open'], `still open after ${story.elapsedMs} ms`);
  assert.ok(story.elapsedMs >= 25_000, `kept ${story.elapsedMs} ms`);
  assert.ok(story.renewed.length >= 2, `renewed at least twice: ${JSON.stringify(story)}`);
  assert.equal(story.echoes, story.sent, `every message echoed: ${JSON.stringify(story)}`);
});
