// The door, GET /v1/stream (docs/API.md), from a real WebSocket client (`ws`): a few checks of
// what a client developer meets first. The exhaustive ones (every refusal, the relay, the
// timeouts) are in the C++ suite; the browser's side is in browser.test.mjs.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { importDep, mint, mintUrl, request, startServer, withTimeout, wsBase } from '../lib/harness.mjs';
import { SESSION_WAIT_MS, WsSession } from '../lib/ws_session.mjs';

const { WebSocket } = await importDep('ws');

// One client connection that records everything (lib/ws_session.mjs); its open() names the URL,
// credentials left out.
class Client extends WsSession {
  constructor(t, url, protocols = [], options = {}) {
    super(t, WebSocket, url, { protocols, ...options });
  }

  open() {
    return withTimeout(this.opened, SESSION_WAIT_MS, `opening ${redact(this.ws.url)}`);
  }
}

function redact(url) {
  return String(url).replace(/(token|api_key)=[^&]*/g, '$1=…');
}

// Sends a text and a binary message and expects both back, unchanged, as sent.
async function assertEchoes(client) {
  await client.open();
  const base = client.messages.length;
  client.ws.send('hello, bouncer');
  client.ws.send(Buffer.from([0, 1, 2, 0xfe, 0xff]));
  assert.equal(await client.message(base), 'hello, bouncer');
  assert.deepEqual(await client.message(base + 1), Buffer.from([0, 1, 2, 0xfe, 0xff]));
}

// A refusal is told inside the WebSocket: exactly one text frame, then close 1008.
async function assertRefused(client, message) {
  const { code, reason } = await client.close();
  assert.deepEqual(client.messages, [`{"type":"error","error":"${message}"}`]);
  assert.equal(code, 1008);
  assert.equal(reason, message);
}

test('signed URLs: POST /v1/client/urls', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();

  await t.test('model is required: 400 missing_field', async () => {
    const res = await mintUrl(server.base, sk, {});
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json?.error?.code, 'missing_field', res.text);
    assert.equal(res.json?.error?.param, 'model', res.text);
  });

  await t.test('the URL opens as it is with new WebSocket(url) and echoes', async (tt) => {
    const res = await mintUrl(server.base, sk, { model: 'echo' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['expiresAt', 'kind', 'url']);
    assert.equal(res.json.kind, 'url');
    assert.ok(res.json.url.startsWith(`${wsBase(server.base)}/v1/stream?model=echo&token=`), res.json.url);
    assert.ok(Date.parse(res.json.expiresAt) > Date.now() - 5000, `expiresAt ${res.json.expiresAt} is in the future`);

    const client = new Client(tt, res.json.url);
    await assertEchoes(client);
    // The client's close is answered with its code (Beast echoes the code, not the reason).
    client.ws.close(1000, 'done');
    assert.equal((await client.close()).code, 1000);
  });

  await t.test("the URL's token is bound to its model: another model is refused", async (tt) => {
    const res = await mintUrl(server.base, sk, { model: 'echo' });
    assert.equal(res.status, 200, res.text);
    const token = new URL(res.json.url).searchParams.get('token');
    assert.ok(token, res.json.url);
    const client = new Client(tt, `${wsBase(server.base)}/v1/stream?model=demo&token=${token}`);
    await assertRefused(client, 'Model not allowed');
  });
});

test('the door over plain HTTP and the tokens answer', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();

  await t.test('GET /v1/stream without an upgrade: 426', async () => {
    const res = await request(server.base, { path: '/v1/stream?model=echo' });
    assert.equal(res.status, 426, res.text);
    assert.equal(res.headers.upgrade?.toLowerCase(), 'websocket');
    assert.equal(res.json?.error?.code, 'upgrade_required', res.text);
  });

  await t.test('/v1/client/tokens answers kind "token", and its ek_ key opens the door', async (tt) => {
    const res = await mint(server.base, sk, { allowedModels: ['echo'] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.kind, 'token');
    assert.match(res.json.apiKey, /^ek_/);
    const client = new Client(tt, `${wsBase(server.base)}/v1/stream?model=echo&api_key=${res.json.apiKey}`);
    await assertEchoes(client);
  });
});

test('POST /v1/keys/self/revoke {"endSessions":true} ends the live sessions of its tokens', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();
  const minted = await mint(server.base, sk, { allowedModels: ['echo'] });
  assert.equal(minted.status, 200, minted.text);
  const url = `${wsBase(server.base)}/v1/stream?model=echo&token=${minted.json.token}`;

  const live = new Client(t, url);
  await assertEchoes(live); // admitted and relaying before the revocation

  const revoked = await request(server.base, {
    method: 'POST',
    path: '/v1/keys/self/revoke',
    headers: { 'X-API-KEY': sk },
    body: { endSessions: true },
  });
  assert.equal(revoked.status, 200, revoked.text);
  assert.equal(revoked.json?.endSessions, true, revoked.text);
  assert.match(revoked.json?.id ?? '', /\S/, revoked.text);

  // The session is told why, then closed: exactly one more message after the two echoes.
  const { code, reason } = await live.close();
  assert.deepEqual(live.messages.slice(2), ['{"type":"error","error":"Token revoked"}']);
  assert.equal(code, 1008);
  assert.equal(reason, 'Token revoked');

  // A new session with a token of the revoked key is refused.
  await assertRefused(new Client(t, url), 'Token revoked');

  // The key is revoked: it cannot revoke itself again.
  const again = await request(server.base, {
    method: 'POST',
    path: '/v1/keys/self/revoke',
    headers: { 'X-API-KEY': sk },
    body: { endSessions: true },
  });
  assert.equal(again.status, 403, again.text);
  assert.equal(again.json?.error?.code, 'api_key_revoked', again.text);
});
