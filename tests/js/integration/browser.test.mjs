// The door from a real browser (docs/API.md, "GET /v1/stream"): headless Chromium, driven by playwright-core,
// opens `new WebSocket(url)` to Bouncer from two pages of different origins, and Bouncer
// enforces a token's allowedOrigins on the Origin header the browser itself sends (a page
// cannot forge it). A browser sees nothing of a refused HTTP upgrade, so a refusal must
// arrive inside the WebSocket: one text frame, then close 1008. Checked here byte for byte.
//
// Needs Chromium at /usr/bin/chromium (scripts/install-deps installs Debian's). A browser
// that does not start is a failure with the launch error, never a skip.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { launchChromium } from '../lib/chromium.mjs';
import { mint, mintUrl, startServer, withTimeout, wsBase } from '../lib/harness.mjs';

const PAGE_TIMEOUT_MS = 15_000;
const SESSION_TIMEOUT_MS = 10_000; // one WebSocket session in a page, open to close

// The page both origins serve. `runSession` opens one WebSocket, sends `send` (if any) once
// open, closes after the first message equal to it (the echo), and resolves the whole story:
// [{type:'open', protocol}, {type:'message', data}, …, {type:'close', code, reason, wasClean}]
// (or a final {type:'timeout'} when no close came within `timeoutMs`).
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>bouncer browser test</title></head>
<body><script>
window.runSession = ({ url, protocols, send, timeoutMs }) => new Promise((resolve) => {
  const events = [];
  let ws;
  try {
    ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
  } catch (e) {
    resolve([{ type: 'throw', message: String(e) }]);
    return;
  }
  ws.binaryType = 'arraybuffer';
  const timer = setTimeout(() => {
    events.push({ type: 'timeout' });
    try { ws.close(); } catch (e) { /* closing already */ }
    resolve(events);
  }, timeoutMs);
  ws.onopen = () => {
    events.push({ type: 'open', protocol: ws.protocol });
    if (send !== undefined) ws.send(send);
  };
  ws.onmessage = (e) => {
    const data = typeof e.data === 'string' ? e.data : { binary: Array.from(new Uint8Array(e.data)) };
    events.push({ type: 'message', data });
    if (send !== undefined && e.data === send) ws.close(1000, 'done');
  };
  ws.onerror = () => events.push({ type: 'error' });
  ws.onclose = (e) => {
    clearTimeout(timer);
    events.push({ type: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean });
    resolve(events);
  };
});
</script></body></html>
`;

// A static page server on 127.0.0.1 (port chosen by the system). Resolves {port, close}.
function startPageServer() {
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(PAGE);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

let browser;
let bouncer;
let sk;
let pageServerA;
let pageServerB;
let originA; // http://127.0.0.1:<p1>
let originB; // http://localhost:<p2> (bound on 127.0.0.1 too)

before(async () => {
  bouncer = await startServer();
  sk = await bouncer.defaultKey();
  pageServerA = await startPageServer();
  pageServerB = await startPageServer();
  originA = `http://127.0.0.1:${pageServerA.port}`;
  originB = `http://localhost:${pageServerB.port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => {});
  await pageServerA?.close();
  await pageServerB?.close();
  await bouncer?.cleanup();
});

// A fresh page at `origin`, closed (with its context) when the test ends.
async function openPage(t, origin) {
  const context = await browser.newContext();
  t.after(() => context.close().catch(() => {}));
  const page = await context.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  const res = await page.goto(`${origin}/`, { timeout: PAGE_TIMEOUT_MS });
  assert.equal(res?.status(), 200, `GET ${origin}/`);
  assert.equal(await page.evaluate(() => location.origin), origin);
  return page;
}

// Runs one WebSocket session in `page`; resolves its events.
function session(page, { url, protocols, send }) {
  return withTimeout(
    page.evaluate((args) => window.runSession(args), { url, protocols, send, timeoutMs: SESSION_TIMEOUT_MS }),
    SESSION_TIMEOUT_MS + PAGE_TIMEOUT_MS,
    `the WebSocket session in ${page.url()}`,
  );
}

const streamUrl = (params) => `${wsBase(bouncer.base)}/v1/stream?${new URLSearchParams(params)}`;

// Opened, echoed `text`, closed cleanly with 1000 after the client's close (the answer to a
// close carries its code; the reason is not echoed, RFC 6455 §5.5.1 does not ask for it).
function assertEchoed(events, text, { protocol = '' } = {}) {
  assert.deepEqual(
    events.map(({ reason, ...e }) => e),
    [
      { type: 'open', protocol },
      { type: 'message', data: text },
      { type: 'close', code: 1000, wasClean: true },
    ],
    JSON.stringify(events),
  );
}

async function mintToken(body) {
  const res = await mint(bouncer.base, sk, body);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

test('an origin-scoped token works from its origin only', { timeout: 120_000 }, async (t) => {
  const { apiKey } = await mintToken({ allowedModels: ['echo'], allowedOrigins: [originA] });
  const url = streamUrl({ model: 'echo', api_key: apiKey });

  await t.test('from its origin: echoes', async (tt) => {
    const page = await openPage(tt, originA);
    assertEchoed(await session(page, { url, send: 'hello from A' }), 'hello from A');
  });

  await t.test('from another origin: one error frame, then close 1008', async (tt) => {
    const page = await openPage(tt, originB);
    const events = await session(page, { url, send: 'hello from B' });
    const messages = events.filter((e) => e.type === 'message');
    assert.deepEqual(messages, [{ type: 'message', data: '{"type":"error","error":"Origin not allowed"}' }], JSON.stringify(events));
    const close = events.find((e) => e.type === 'close');
    assert.ok(close, `the session closed: ${JSON.stringify(events)}`);
    assert.equal(close.code, 1008, JSON.stringify(events));
    assert.equal(close.reason, 'Origin not allowed', JSON.stringify(events));
    // In order: the browser saw the refusal inside an open WebSocket, then its close.
    assert.deepEqual(
      events.map((e) => e.type),
      ['open', 'message', 'close'],
      JSON.stringify(events),
    );
  });
});

test('a token without allowedOrigins works from both origins', { timeout: 120_000 }, async (t) => {
  const { apiKey } = await mintToken({ allowedModels: ['echo'] });
  const url = streamUrl({ model: 'echo', api_key: apiKey });
  for (const [name, origin] of [
    ['127.0.0.1', () => originA],
    ['localhost', () => originB],
  ]) {
    await t.test(`from ${name}`, async (tt) => {
      const page = await openPage(tt, origin());
      assertEchoed(await session(page, { url, send: `hello from ${name}` }), `hello from ${name}`);
    });
  }
});

// The URL Standard keeps an all-ASCII host as written, an xn-- label that is not valid punycode
// included, and so does Chromium: a page at http://xn--a.localhost:PORT (Chromium resolves
// *.localhost itself) has that origin and sends it. Bouncer must take it in allowedOrigins and
// admit the session it scopes.
test('an origin with an xn-- label that is not punycode, as Chromium sends it', { timeout: 120_000 }, async (t) => {
  const origin = `http://xn--a.localhost:${pageServerA.port}`;
  const { apiKey } = await mintToken({ allowedModels: ['echo'], allowedOrigins: [origin] });
  const url = streamUrl({ model: 'echo', api_key: apiKey });
  const page = await openPage(t, origin); // checks location.origin is exactly `origin`
  assertEchoed(await session(page, { url, send: 'hello from xn--a' }), 'hello from xn--a');
});

test('a signed URL from POST /v1/client/urls works from the page as it is', { timeout: 120_000 }, async (t) => {
  const res = await mintUrl(bouncer.base, sk, { model: 'echo' });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.kind, 'url', res.text);
  const page = await openPage(t, originA);
  assertEchoed(await session(page, { url: res.json.url, send: 'signed' }), 'signed');
});

test('the credential as a subprotocol: bouncer.key.<key> beside bouncer.v1, which is answered', { timeout: 120_000 }, async (t) => {
  const { apiKey } = await mintToken({ allowedModels: ['echo'], allowedOrigins: [originA] });
  const page = await openPage(t, originA);
  const events = await session(page, {
    url: `${wsBase(bouncer.base)}/v1/stream?model=echo`,
    protocols: [`bouncer.key.${apiKey}`, 'bouncer.v1'],
    send: 'by subprotocol',
  });
  assertEchoed(events, 'by subprotocol', { protocol: 'bouncer.v1' });
});

test('a browser that offers only its credential protocol fails the connection (why bouncer.v1 exists)', { timeout: 120_000 }, async (t) => {
  const { apiKey } = await mintToken({ allowedModels: ['echo'], allowedOrigins: [originA] });
  const page = await openPage(t, originA);
  const events = await session(page, {
    url: `${wsBase(bouncer.base)}/v1/stream?model=echo`,
    protocols: [`bouncer.key.${apiKey}`],
    send: 'never sent',
  });
  assert.ok(!events.some((e) => e.type === 'open'), JSON.stringify(events));
  assert.ok(events.some((e) => e.type === 'close' && e.code === 1006), JSON.stringify(events));
});
