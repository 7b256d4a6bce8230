// SIGHUP (what `systemctl reload` sends) reloads the models of the configuration file without
// dropping a session: an added model is served, a changed one is used as changed by new
// sessions, a removed one refuses new sessions while its live ones go on; a file that cannot
// be read keeps the models in use. Every other setting is read at start only, and the log
// names those changed in the file. The upstream is a real `ws` server on 127.0.0.1.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';

import { importDep, mint, mintUrl, startServer, tempDir, waitFor, writeToml, wsBase } from '../lib/harness.mjs';
import { WsSession } from '../lib/ws_session.mjs';

const { WebSocket, WebSocketServer } = await importDep('ws');

// An echo server that records each upgrade request's path and headers.
async function startUpstream(t) {
  const requests = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws, req) => {
    requests.push({ path: req.url, headers: req.headers });
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  t.after(
    () =>
      new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(resolve);
      }),
  );
  return { base: `ws://127.0.0.1:${wss.address().port}`, requests };
}

const countOf = (text, re) => (text.match(new RegExp(re.source, 'g')) ?? []).length;

async function reload(server, n) {
  server.child.kill('SIGHUP');
  await waitFor(() => countOf(server.stderr, /reload_finished/) >= n, { what: `reload_finished #${n}`, timeoutMs: 15_000 });
}

// The refusal a client meets at the door for a model that is not served.
async function assertRefusedUnknownModel(t, url) {
  const session = new WsSession(t, WebSocket, url);
  const { code, reason } = await session.close();
  assert.deepEqual(session.messages, ['{"type":"error","error":"Unknown model"}']);
  assert.equal(code, 1008);
  assert.equal(reason, 'Unknown model');
}

test('SIGHUP reloads the models of the configuration file; live sessions go on', { timeout: 180_000 }, async (t) => {
  const upstream = await startUpstream(t);
  const confDir = tempDir('bouncer-reload-');
  t.after(() => rmSync(confDir, { recursive: true, force: true }));
  const file = writeToml(
    confDir,
    `max_connections = 1000
[models.alpha]
upstream = "${upstream.base}/alpha"
[models.gamma]
upstream = "${upstream.base}/gamma"
[models.gamma.headers]
X-Test = "one"
`,
  );
  const server = await startServer({ t, args: ['--config', file] });
  const sk = await server.defaultKey();

  const before = await mintUrl(server.base, sk, { model: 'beta' });
  assert.equal(before.status, 400, before.text);
  assert.equal(before.json.error.code, 'unknown_model', before.text);

  const alphaUrl = await mintUrl(server.base, sk, { model: 'alpha' });
  assert.equal(alphaUrl.status, 200, alphaUrl.text);
  const live = new WsSession(t, WebSocket, alphaUrl.json.url);
  await live.echo('alpha, before the reload');
  // A token for alpha, minted while it is served, used after it is removed.
  const alphaToken = await mint(server.base, sk, { allowedModels: ['alpha'] });
  assert.equal(alphaToken.status, 200, alphaToken.text);

  writeToml(
    confDir,
    `max_connections = 2000
[models.beta]
upstream = "${upstream.base}/beta"
[models.gamma]
upstream = "${upstream.base}/gamma"
[models.gamma.headers]
X-Test = "two"
`,
  );
  await reload(server, 1);
  assert.match(server.stderr, /models_reloaded added=beta changed=gamma removed=alpha/);
  assert.match(server.stderr, /settings_not_reloaded .*settings=max_connections/);

  await t.test('an added model is served', async (tt) => {
    const res = await mintUrl(server.base, sk, { model: 'beta' });
    assert.equal(res.status, 200, res.text);
    const session = new WsSession(tt, WebSocket, res.json.url);
    await session.echo('beta, after the reload');
    assert.equal(upstream.requests.at(-1).path, '/beta');
  });

  await t.test('a changed model: new sessions use its new settings', async (tt) => {
    const res = await mintUrl(server.base, sk, { model: 'gamma' });
    assert.equal(res.status, 200, res.text);
    const session = new WsSession(tt, WebSocket, res.json.url);
    await session.echo('gamma');
    assert.equal(upstream.requests.at(-1).path, '/gamma');
    assert.equal(upstream.requests.at(-1).headers['x-test'], 'two');
  });

  await t.test("a removed model: its live session goes on, new ones are refused", async (tt) => {
    await live.echo('alpha, after the reload');
    assert.deepEqual(live.errors, []);
    await assertRefusedUnknownModel(tt, `${wsBase(server.base)}/v1/stream?model=alpha&api_key=${alphaToken.json.apiKey}`);
    const res = await mintUrl(server.base, sk, { model: 'alpha' });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.code, 'unknown_model', res.text);
  });

  await t.test('a file that cannot be used keeps the models in use', async (tt) => {
    writeToml(confDir, '[models.beta\nupstream = ');
    await reload(server, 2);
    assert.match(server.stderr, /models_reload_failed .*config file .*line 1/);
    writeToml(confDir, `[models.delta]\nupstream = "http://not-a-websocket/"\n`);
    await reload(server, 3);
    assert.match(server.stderr, /models_reload_failed .*models\.delta\.upstream must be a ws:\/\/ or wss:\/\/ URL/);
    const res = await mintUrl(server.base, sk, { model: 'beta' });
    assert.equal(res.status, 200, res.text);
    await new WsSession(tt, WebSocket, res.json.url).echo('beta, still');
    await live.echo('alpha, still');
  });

  await t.test('the built-in models stay through reloads', async (tt) => {
    const res = await mintUrl(server.base, sk, { model: 'echo' });
    assert.equal(res.status, 200, res.text);
    await new WsSession(tt, WebSocket, res.json.url).echo('built in');
  });
});

test('SIGHUP without a configuration file: the process goes on and says what it reloaded', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();
  const res = await mintUrl(server.base, sk, { model: 'echo' });
  assert.equal(res.status, 200, res.text);
  const live = new WsSession(t, WebSocket, res.json.url);
  await live.echo('before');
  await reload(server, 1);
  assert.match(server.stderr, /models_not_reloaded reason="no configuration file \(--config\)"/);
  assert.match(server.stderr, /reload_finished .*not_reloaded="every other setting \(restart to change it\)"/);
  assert.equal(server.exit, null, 'still running');
  await live.echo('after');
});
