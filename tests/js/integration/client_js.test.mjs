// The JavaScript client (clients/js, @bouncer/client) against the real server, from Node with
// the `ws` package as its WebSocket: both mint kinds, each way of carrying a credential, each
// refusal as its typed error, renewal in place keeping a capped session alive past its cap,
// maxUses and resume ids (docs/API.md; renewal, maxUses and resume are the server's newest
// features: these cases fail on a server without them).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { REPO_ROOT, freePort, importDep, sleep, startServer, tempDir, waitFor, withTimeout } from '../lib/harness.mjs';

const { WebSocket } = await importDep('ws');
const client = await import(pathToFileURL(path.join(REPO_ROOT, 'clients', 'js', 'src', 'index.js')).href);
const { MintError, RefusedError, connect, mintToken, mintUrl } = client;

const SESSION_WAIT_MS = 15_000;

let bouncer;
let sk;
const tempRoots = []; // data dirs of the tests' own servers, removed once every server is down

before(async () => {
  // No clock-skew leeway: a token minted with expiresIn 1 is refused as expired two seconds later.
  bouncer = await startServer({ args: ['--leeway-seconds', '0'] });
  sk = await bouncer.defaultKey();
});

after(async () => {
  await bouncer?.cleanup();
  for (const root of tempRoots) rmSync(root, { recursive: true, force: true });
});

const mint = (options = {}) => mintToken({ baseUrl: bouncer.base, apiKey: sk, ...options });

// A session to `echo` with this credential; its messages and errors recorded. Closed when the
// test ends.
function open(t, credential, options = {}) {
  const seen = { messages: [], errors: [], renewed: [], expiring: [], opens: [] };
  const session = connect(credential, {
    baseUrl: bouncer.base,
    model: 'echo',
    WebSocket,
    reconnect: false,
    onOpen: (info) => seen.opens.push(info),
    onMessage: (data) => seen.messages.push(data),
    onError: (error) => seen.errors.push(error),
    onRenewed: (info) => seen.renewed.push(info),
    onExpiring: (info) => seen.expiring.push(info),
    ...options,
  });
  t.after(() => session.close());
  return { session, seen };
}

// Sends `text` and waits for its echo.
async function echo(session, seen, text) {
  const before = seen.messages.length;
  session.send(text);
  await waitFor(() => seen.messages.slice(before).includes(text), {
    timeoutMs: SESSION_WAIT_MS,
    what: `the echo of ${text} (got ${JSON.stringify(seen.messages)})`,
  });
}

// The session's refusal: `opened` rejects with a RefusedError, `closed` carries it too.
async function refusal(session) {
  const error = await withTimeout(
    session.opened.then(
      () => assert.fail('the session was admitted'),
      (e) => e,
    ),
    SESSION_WAIT_MS,
    'the refusal',
  );
  assert.ok(error instanceof RefusedError, `a RefusedError: ${error?.stack ?? error}`);
  const closed = await withTimeout(session.closed, SESSION_WAIT_MS, 'the close');
  assert.equal(closed.error, error);
  return error;
}

function assertNoCredentialIn(text, credential) {
  const secret = credential.kind === 'token' ? credential.token : new URL(credential.url).searchParams.get('token');
  const jwt = secret.replace(/^ek_/, '');
  assert.ok(!text.includes(jwt.slice(0, 40)) && !text.includes(jwt.slice(-20)), `no credential in: ${text}`);
}

test('both mint kinds, each way of carrying the credential, echo', { timeout: 120_000 }, async (t) => {
  const token = await mint({ allowedModels: ['echo'] });
  assert.equal(token.kind, 'token');
  assert.match(token.token, /^ek_eyJ/);
  assert.ok(Date.parse(token.expiresAt) > Date.now());

  await t.test('token as a bouncer.key subprotocol (the default)', async (tt) => {
    const { session, seen } = open(tt, token);
    await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
    assert.equal(session.protocol, 'bouncer.v1');
    assert.equal(session.readyState, 'open');
    assert.equal(session.deadline, null, 'no cap, no deadline');
    await echo(session, seen, 'over the subprotocol');
    session.close(1000, 'done');
    const closed = await session.closed;
    assert.equal(closed.code, 1000);
    assert.equal(closed.error, undefined);
  });

  await t.test('token in the query', async (tt) => {
    const { session, seen } = open(tt, token, { credentialIn: 'query' });
    await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
    await echo(session, seen, 'over the query');
  });

  await t.test('the bare JWT as the token', async (tt) => {
    const { session, seen } = open(tt, { ...token, token: token.token.slice(3) });
    await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
    await echo(session, seen, 'with the bare JWT');
  });

  await t.test('a signed URL, opened as it is', async (tt) => {
    const url = await mintUrl({ baseUrl: bouncer.base, apiKey: sk, model: 'echo' });
    assert.equal(url.kind, 'url');
    assert.match(url.url, /^ws:\/\/127\.0\.0\.1:\d+\/v1\/stream\?model=echo&token=eyJ/);
    const { session, seen } = open(tt, url, { baseUrl: undefined, model: undefined });
    await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
    await echo(session, seen, 'over the signed URL');
  });

  await t.test('binary frames come back as ArrayBuffers', async (tt) => {
    const { session, seen } = open(tt, token);
    await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
    session.send(new Uint8Array([1, 2, 3]));
    await waitFor(() => seen.messages.length === 1, { timeoutMs: SESSION_WAIT_MS, what: 'the binary echo' });
    assert.ok(seen.messages[0] instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(seen.messages[0])], [1, 2, 3]);
  });
});

test('mint errors are MintErrors with the server\'s fields', { timeout: 60_000 }, async () => {
  await assert.rejects(mint({ expiresIn: 99999 }), (e) => {
    assert.ok(e instanceof MintError);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'out_of_range');
    assert.equal(e.param, 'expiresIn');
    assert.equal(e.retryable, false);
    return true;
  });
  await assert.rejects(mintToken({ baseUrl: bouncer.base, apiKey: `${sk}x` }), (e) => {
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    assert.ok(!e.message.includes(sk), e.message);
    return true;
  });
  await assert.rejects(mintUrl({ baseUrl: bouncer.base, apiKey: sk, model: 'nope' }), (e) => e.status === 400 && e.code === 'unknown_model');
});

test('each refusal is a typed RefusedError', { timeout: 120_000 }, async (t) => {
  await t.test('Token expired (1008, permanent)', async (tt) => {
    const credential = await mint({ expiresIn: 1 });
    await sleep(2500); // past exp, and the server allows no leeway
    const { session, seen } = open(tt, credential, { reconnect: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } });
    const error = await refusal(session);
    assert.equal(error.reason, 'Token expired');
    assert.equal(error.closeCode, 1008);
    assert.equal(error.permanent, true);
    assert.deepEqual(seen.opens, [], 'never admitted');
    assert.deepEqual(seen.messages, [], 'the refusal frame is not a message');
    assertNoCredentialIn(`${error.message} ${error.stack}`, credential);
  });

  await t.test('Unknown model (1008)', async (tt) => {
    const { session } = open(tt, await mint(), { model: 'no-such-model' });
    const error = await refusal(session);
    assert.equal(error.reason, 'Unknown model');
    assert.equal(error.permanent, true);
  });

  await t.test('Model not allowed (1008)', async (tt) => {
    const { session } = open(tt, await mint({ allowedModels: ['demo'] }));
    const error = await refusal(session);
    assert.equal(error.reason, 'Model not allowed');
    assert.equal(error.closeCode, 1008);
  });

  await t.test('Origin not allowed (1008), the Origin set through webSocketOptions', async (tt) => {
    const credential = await mint({ allowedOrigins: ['https://app.example.com'] });
    const refused = open(tt, credential, { webSocketOptions: { origin: 'https://elsewhere.example.com' } });
    const error = await refusal(refused.session);
    assert.equal(error.reason, 'Origin not allowed');
    const admitted = open(tt, credential, { webSocketOptions: { origin: 'https://app.example.com' } });
    await withTimeout(admitted.session.opened, SESSION_WAIT_MS, 'opening from the allowed origin');
    await echo(admitted.session, admitted.seen, 'from the allowed origin');
  });

  await t.test('Invalid API key (1008), never retried', async (tt) => {
    const credential = { kind: 'token', token: 'ek_eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln', expiresAt: '2099-01-01T00:00:00Z' };
    let attempts = 0;
    const { session } = open(tt, credential, {
      reconnect: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      onReconnecting: () => (attempts += 1),
    });
    const error = await refusal(session);
    assert.equal(error.reason, 'Invalid API key');
    assert.equal(attempts, 0);
  });
});

test('a session capped at 10 s ends with its deadline, told as such', { timeout: 60_000 }, async (t) => {
  const credential = await mint({ constraints: { realtime: { maxSessionDuration: 10 } } });
  const { session, seen } = open(t, credential);
  await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
  assert.ok(session.deadline instanceof Date, 'the deadline from the token\'s cap');
  const closed = await withTimeout(session.closed, 30_000, 'the end at the cap');
  assert.deepEqual(closed.ended, { reason: 'max_session_duration', seconds: 10 });
  assert.equal(closed.code, 1000);
  assert.equal(closed.error, undefined);
  assert.deepEqual(seen.messages, [], 'session_ended and bouncer.* frames are not messages');
});

test('renewal keeps a session capped at 10 s alive past 25 s', { timeout: 90_000 }, async (t) => {
  const cap = { constraints: { realtime: { maxSessionDuration: 10 } } };
  let minted = 0;
  const { session, seen } = open(t, await mint(cap), {
    getCredential: async ({ reason }) => {
      assert.equal(reason, 'renew');
      minted += 1;
      return mint(cap);
    },
  });
  await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
  const startedAt = Date.now();
  const firstDeadline = session.deadline;
  while (Date.now() - startedAt < 26_000) {
    await echo(session, seen, `alive at ${Math.round((Date.now() - startedAt) / 1000)} s`);
    await sleep(2000);
    assert.equal(session.readyState, 'open', `still open at ${Date.now() - startedAt} ms; errors: ${seen.errors.map((e) => e.message)}`);
  }
  assert.ok(seen.expiring.length >= 2, `warned before each deadline: ${JSON.stringify(seen.expiring)}`);
  assert.ok(seen.expiring.every((w) => w.secondsLeft <= 5), `a 10 s session is warned at 5 s left: ${JSON.stringify(seen.expiring)}`);
  assert.ok(seen.renewed.length >= 2, `renewed at least twice: ${seen.renewed.length}`);
  assert.ok(minted >= 2);
  assert.ok(session.deadline > firstDeadline, 'the deadline moved');
  assert.deepEqual(seen.errors, []);
  assert.ok(
    seen.messages.every((m) => typeof m === 'string' && m.startsWith('alive at')),
    `only the model's messages: ${JSON.stringify(seen.messages)}`,
  );
});

test('a renewal with a token for another model fails and the session goes on', { timeout: 60_000 }, async (t) => {
  const { session, seen } = open(t, await mint());
  await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
  const other = await mint({ allowedModels: ['demo'] });
  await assert.rejects(withTimeout(session.renew(other), SESSION_WAIT_MS, 'the renewal'), (e) => {
    assert.equal(e.name, 'RenewError');
    assert.equal(e.reason, 'Model not allowed');
    return true;
  });
  await echo(session, seen, 'still here');
});

test('a bouncer.* message Bouncer does not know is answered bouncer.error, never reaches the model', { timeout: 60_000 }, async (t) => {
  const { session, seen } = open(t, await mint());
  await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
  session.send('{"type":"bouncer.frobnicate"}');
  await waitFor(() => seen.errors.length === 1, { timeoutMs: SESSION_WAIT_MS, what: 'the bouncer.error' });
  assert.equal(seen.errors[0].code, 'bouncer_error');
  await echo(session, seen, 'after it');
  assert.deepEqual(seen.messages, ['after it'], 'the echo model never saw the bouncer.* message');
});

test('maxUses: 1 admits once; a second admission is Token already used (permanent)', { timeout: 60_000 }, async (t) => {
  const credential = await mint({ maxUses: 1 });
  const first = open(t, credential);
  await withTimeout(first.session.opened, SESSION_WAIT_MS, 'the first admission');
  await echo(first.session, first.seen, 'first use');
  first.session.close();
  await first.session.closed;
  const second = open(t, credential, { reconnect: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } });
  const error = await refusal(second.session);
  assert.equal(error.reason, 'Token already used');
  assert.equal(error.permanent, true);
});

test('resume: a reconnection with the same id within 30 s uses nothing of maxUses', { timeout: 60_000 }, async (t) => {
  const credential = await mint({ maxUses: 1 });
  const first = open(t, credential, { resume: true });
  await withTimeout(first.session.opened, SESSION_WAIT_MS, 'the first admission');
  const resumeId = first.session.resumeId;
  assert.match(resumeId, /^[A-Za-z0-9_-]{22}$/);

  // One live connection per id.
  const twin = open(t, credential, { resume: resumeId });
  const inUse = await refusal(twin.session);
  assert.equal(inUse.reason, 'Resume id already in use');

  first.session.close();
  await first.session.closed;
  const again = open(t, credential, { resume: resumeId });
  await withTimeout(again.session.opened, SESSION_WAIT_MS, 'the resumed admission');
  await echo(again.session, again.seen, 'resumed');
});

test('a malformed resume id: refused by the client before any connection, and by the server as Resume id not allowed', { timeout: 60_000 }, async (t) => {
  const credential = await mint();
  assert.throws(() => connect(credential, { baseUrl: bouncer.base, model: 'echo', WebSocket, resume: 'short' }), TypeError);
  // A signed URL is opened as it is: one that already carries a bad resume id reaches the door.
  const url = await mintUrl({ baseUrl: bouncer.base, apiKey: sk, model: 'echo' });
  const { session } = open(t, { ...url, url: `${url.url}&resume=short` }, { baseUrl: undefined, model: undefined });
  const error = await refusal(session);
  assert.equal(error.reason, 'Resume id not allowed');
  assert.equal(error.permanent, true);
});

test('after Server shutting down (1001) the session comes back, same resume id, on the restarted server', { timeout: 120_000 }, async (t) => {
  const root = tempDir();
  tempRoots.push(root);
  const dataDir = path.join(root, 'data');
  const port = await freePort();
  const first = await startServer({ t, dataDir, port });
  const key = await first.defaultKey();
  const credential = await mintToken({ baseUrl: first.base, apiKey: key, expiresIn: 300 });
  const reconnecting = [];
  const { session, seen } = open(t, credential, {
    baseUrl: first.base,
    resume: true,
    reconnect: { maxAttempts: 30, baseDelayMs: 100, maxDelayMs: 500 },
    onReconnecting: (info) => reconnecting.push(info),
  });
  await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
  await echo(session, seen, 'before the restart');
  const resumeId = session.resumeId;

  await first.stop();
  await waitFor(() => reconnecting.length >= 1, { timeoutMs: SESSION_WAIT_MS, what: 'the first reconnection attempt' });
  assert.equal(reconnecting[0].error.name, 'ConnectionError');
  assert.equal(reconnecting[0].error.closeCode, 1001);
  assert.equal(reconnecting[0].error.reason, 'Server shutting down');
  assert.equal(reconnecting[0].error.retryable, true);

  await startServer({ t, dataDir, port });
  await waitFor(() => seen.opens.length === 2 || session.readyState === 'closed', { timeoutMs: 30_000, what: 'the reconnection' });
  assert.deepEqual(seen.errors, [], 'a recovered end is not an error');
  assert.equal(seen.opens[1].reconnected, true);
  assert.equal(seen.opens[1].resumeId, resumeId);
  assert.equal(session.resumeId, resumeId);
  await echo(session, seen, 'after the restart');
});

test('a single-use token survives a network drop: the session reconnects with its resume id, for free', { timeout: 60_000 }, async (t) => {
  // The ws class, recording its instances so that the test can cut the connection under the session.
  const sockets = [];
  class RecordedWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  }
  const reconnecting = [];
  const { session, seen } = open(t, await mint({ maxUses: 1 }), {
    WebSocket: RecordedWebSocket,
    resume: true,
    reconnect: { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 2000 },
    onReconnecting: (info) => reconnecting.push(info),
  });
  await withTimeout(session.opened, SESSION_WAIT_MS, 'opening');
  await echo(session, seen, 'before the drop');
  sockets[0].terminate(); // the TCP connection destroyed, no close handshake: 1006 on our side
  await waitFor(() => seen.opens.length === 2 || session.readyState === 'closed', { timeoutMs: 30_000, what: 'the reconnection' });
  assert.deepEqual(seen.errors, [], 'the reconnection was admitted without using the token again');
  assert.equal(reconnecting[0].error.closeCode, 1006);
  assert.equal(seen.opens[1].reconnected, true);
  assert.equal(sockets.length, 2);
  assert.equal(new URL(sockets[1].url).searchParams.get('resume'), session.resumeId);
  await echo(session, seen, 'after the drop');
});
