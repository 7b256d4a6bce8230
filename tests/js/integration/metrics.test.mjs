// The admin listener and /metrics, against the real binary: what it serves and where (never on
// the public port), that every counter moves by exactly what a client did, that Debian's
// `promtool check metrics` finds nothing to fix in a real scrape, and that a real Prometheus
// server scrapes it and answers queries with those same numbers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';

import {
  createKey,
  freePort,
  importDep,
  mint,
  rawRequest,
  request,
  requireTool,
  runCli,
  sleep,
  startServer,
  tempDir,
  waitFor,
  withTimeout,
  writeToml,
  wsBase,
} from '../lib/harness.mjs';

const { WebSocket } = await importDep('ws');

const WAIT_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// The exposition, read back.

// {'name{labels}': value} for every sample of a scrape. Bouncer writes labels in one fixed
// order, so the text between the braces identifies a series.
function parseExposition(text) {
  const series = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    series.set(m[1] + (m[2] ?? ''), Number(m[3]));
  }
  return series;
}

function key(name, labels = {}) {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return pairs.length ? `${name}{${pairs.join(',')}}` : name;
}

async function scrape(server) {
  const res = await request(server.adminBase, { path: '/metrics' });
  assert.equal(res.status, 200, res.text);
  return { text: res.text, series: parseExposition(res.text) };
}

// The value of one series; a missing series fails (every declared series exists from the start).
function valueOf(series, name, labels) {
  const k = key(name, labels);
  assert.ok(series.has(k), `no series ${k}`);
  return series.get(k);
}

// For every series of the families named in `expected` (a map 'name{labels}' → increase),
// after − before must equal the expected increase, and 0 for every series not listed.
function assertMovedExactly(before, after, families, expected) {
  const want = new Map(Object.entries(expected));
  for (const k of want.keys()) assert.ok(after.has(k), `no series ${k}`);
  for (const [k, value] of after) {
    const family = k.replace(/\{.*$/, '');
    if (!families.includes(family)) continue;
    const moved = value - (before.get(k) ?? 0);
    assert.equal(moved, want.get(k) ?? 0, `${k} moved by ${moved}, expected ${want.get(k) ?? 0}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Clients.

// A WebSocket client that records messages and the close. No permessage-deflate: the payload
// bytes on the wire are then exactly those sent.
function connect(t, url) {
  const ws = new WebSocket(url, [], { handshakeTimeout: WAIT_MS, perMessageDeflate: false });
  const client = { ws, messages: [] };
  ws.on('message', (data, isBinary) => client.messages.push(isBinary ? Buffer.from(data) : data.toString('utf8')));
  ws.on('error', () => {});
  client.closed = withTimeout(
    new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }))),
    WAIT_MS,
    'the close',
  );
  client.closed.catch(() => {});
  client.opened = withTimeout(
    new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }),
    WAIT_MS,
    'the open',
  );
  client.opened.catch(() => {});
  t.after(() => ws.terminate());
  return client;
}

// A refused session: the error frame, then the close; resolves the close.
async function refusedSession(t, url, message) {
  const client = connect(t, url);
  const closed = await client.closed;
  assert.deepEqual(client.messages, [`{"type":"error","error":"${message}"}`]);
  return closed;
}

// Opens an echo session, sends `payloads` one by one (each echoed before the next), closes,
// and waits until the server logged the session's end. Returns the bytes sent.
async function echoSession(t, server, token, payloads) {
  const endedBefore = (server.stderr.match(/session_ended/g) ?? []).length;
  const client = connect(t, `${wsBase(server.base)}/v1/stream?model=echo&token=${token}`);
  await client.opened;
  let bytes = 0;
  for (const [i, payload] of payloads.entries()) {
    client.ws.send(payload);
    await waitFor(() => client.messages.length > i, { timeoutMs: WAIT_MS, what: `echo #${i + 1}` });
    assert.deepEqual(client.messages[i], payload);
    bytes += Buffer.byteLength(payload);
  }
  client.ws.close(1000, 'done');
  assert.equal((await client.closed).code, 1000);
  await waitFor(() => (server.stderr.match(/session_ended/g) ?? []).length > endedBefore, {
    timeoutMs: WAIT_MS,
    what: 'the session_ended log line',
  });
  return bytes;
}

async function mintToken(server, sk, body = { allowedModels: ['echo'] }) {
  const res = await mint(server.base, sk, body);
  assert.equal(res.status, 200, res.text);
  return res.json.token;
}

// ---------------------------------------------------------------------------------------------
// The process's listening TCP ports, from /proc (the kernel's own view, nothing assumed).

function listeningPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue; // 0A: LISTEN
      ports.add(parseInt(f[1].split(':')[1], 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

// The ports among `ports` whose GET /metrics answers Bouncer's exposition.
async function portsServingMetrics(ports) {
  const serving = [];
  for (const port of ports) {
    const res = await request(`http://127.0.0.1:${port}`, { path: '/metrics', timeoutMs: 3000 }).catch(() => null);
    if (res?.status === 200 && res.text.includes('# TYPE bouncer_mints_total counter')) serving.push(port);
  }
  return serving;
}

// ---------------------------------------------------------------------------------------------
// Prometheus, started by the test.

async function startPrometheus(t, target) {
  const bin = requireTool('prometheus');
  const dir = tempDir('bouncer-prometheus-');
  const port = await freePort();
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: bouncer',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const child = spawn(
    bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', resolve));
  const kill = () => {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.on('exit', kill);
  t.after(async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(kill, 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${stderr}`);
      return (await request(base, { path: '/-/ready', timeoutMs: 2000 })).status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: 'prometheus /-/ready' },
  );
  return {
    base,
    logs: () => stderr,
    // An instant query: [{metric, value}] with numeric values.
    async query(expr) {
      const res = await request(base, { path: `/api/v1/query?query=${encodeURIComponent(expr)}` });
      assert.equal(res.status, 200, `${expr}: ${res.text}`);
      assert.equal(res.json?.status, 'success', res.text);
      return res.json.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}

// The series of one family as Prometheus has them: 'name{labels}' (Bouncer's own labels, in
// Bouncer's order) → value.
async function familyFromPrometheus(prom, name, label) {
  const out = new Map();
  for (const { metric, value } of await prom.query(`${name}{job="bouncer"}`)) {
    out.set(label ? key(name, { [label]: metric[label] }) : key(name), value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

test('the admin listener serves /metrics, /healthz and /readyz; the public port does not serve /metrics', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  assert.ok(server.adminPort, `no admin_address in the listening line\n${server.logs()}`);
  assert.notEqual(server.adminPort, server.port);

  const metrics = await request(server.adminBase, { path: '/metrics' });
  assert.equal(metrics.status, 200, metrics.text);
  assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(metrics.text, /^# HELP bouncer_mints_total /m);

  // The public port: no /metrics (a 404 like any unknown path), but the health checks stay.
  const onPublic = await request(server.base, { path: '/metrics' });
  assert.equal(onPublic.status, 404, onPublic.text);
  assert.equal(onPublic.json?.error?.code, 'not_found', onPublic.text);
  assert.doesNotMatch(onPublic.text, /bouncer_/);

  for (const base of [server.base, server.adminBase]) {
    const health = await request(base, { path: '/healthz' });
    assert.equal(health.status, 200, health.text);
    assert.deepEqual(health.json, { status: 'ok' });
    const ready = await request(base, { path: '/readyz' });
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.json?.status, 'ready', ready.text);
    assert.equal(ready.json?.admitting, true, ready.text);
  }

  // The admin listener has its own routes only: the public API is not there.
  const sk = await server.defaultKey();
  const mintOnAdmin = await mint(server.adminBase, sk, {});
  assert.equal(mintOnAdmin.status, 404, mintOnAdmin.text);
  const upgradeOnAdmin = await request(server.adminBase, {
    path: '/v1/stream?model=echo',
    headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
  });
  assert.equal(upgradeOnAdmin.status, 404, upgradeOnAdmin.text);
  assert.equal((await request(server.adminBase, { path: '/nothing' })).status, 404);

  const post = await request(server.adminBase, { method: 'POST', path: '/metrics', body: '' });
  assert.equal(post.status, 405, post.text);
  assert.equal(post.headers.allow, 'GET');

  // HEAD: the GET's headers and no body.
  const head = await rawRequest(server.adminPort, 'HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(head.status, 200, head.raw);
  assert.ok(Number(head.headers['content-length']) > 0, head.raw);
  assert.equal(head.text, '');

  // The same limits as the public listener: an oversized header block is a 431.
  const big = await rawRequest(
    server.adminPort,
    `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(9000)}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(big.status, 431, big.raw.slice(0, 200));
});

test('every counter moves by exactly what clients did', { timeout: 180_000 }, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A model whose upstream refuses connections: a port that was free and is not listened on.
  const deadPort = await freePort();
  const config = writeToml(dir, `[models.dead]\nupstream = "ws://127.0.0.1:${deadPort}/"\n`);
  const server = await startServer({ t, dataDir: path.join(dir, 'data'), args: ['--config', config] });
  const sk = await server.defaultKey();
  const before = (await scrape(server)).series;

  // Mints: 3 issued, 2 with an unknown key, 1 without a key, 1 invalid option.
  const tokens = [];
  for (let i = 0; i < 3; i++) tokens.push(await mintToken(server, sk, { allowedModels: ['echo', 'dead'] }));
  for (let i = 0; i < 2; i++) assert.equal((await mint(server.base, `sk_${'A'.repeat(43)}`, {})).status, 401);
  assert.equal((await mint(server.base, undefined, {})).status, 401);
  assert.equal((await mint(server.base, sk, { expiresIn: 0 })).status, 400);

  // Sessions: 2 refused with a forged token, 1 for an unknown model, 1 for a model the token
  // does not allow, 1 whose upstream is down; 1 admitted (echo) that relays known bytes.
  const door = `${wsBase(server.base)}/v1/stream`;
  for (let i = 0; i < 2; i++) await refusedSession(t, `${door}?model=echo&token=ek_not.a.token`, 'Invalid API key');
  await refusedSession(t, `${door}?model=nope&token=${tokens[0]}`, 'Unknown model');
  await refusedSession(t, `${door}?model=demo&token=${tokens[0]}`, 'Model not allowed');
  const dead = await refusedSession(t, `${door}?model=dead&token=${tokens[1]}`, 'Upstream unavailable');
  assert.equal(dead.code, 1011);
  const sent = ['hello', Buffer.alloc(1000, 7), 'ünïcödé'];
  const bytes = await echoSession(t, server, tokens[2], sent);

  const after = (await scrape(server)).series;
  assertMovedExactly(before, after, ['bouncer_mints_total'], {
    [key('bouncer_mints_total', { outcome: 'issued' })]: 3,
    [key('bouncer_mints_total', { outcome: 'invalid_api_key' })]: 2,
    [key('bouncer_mints_total', { outcome: 'missing_api_key' })]: 1,
    [key('bouncer_mints_total', { outcome: 'invalid_request' })]: 1,
  });
  assertMovedExactly(before, after, ['bouncer_sessions_refused_total'], {
    [key('bouncer_sessions_refused_total', { reason: 'invalid_api_key' })]: 2,
    [key('bouncer_sessions_refused_total', { reason: 'unknown_model' })]: 1,
    [key('bouncer_sessions_refused_total', { reason: 'model_not_allowed' })]: 1,
    [key('bouncer_sessions_refused_total', { reason: 'upstream_unavailable' })]: 1,
  });
  assertMovedExactly(
    before,
    after,
    [
      'bouncer_sessions_admitted_total',
      'bouncer_sessions_ended_total',
      'bouncer_relayed_bytes_total',
      'bouncer_relayed_frames_total',
      'bouncer_upstream_connect_failures_total',
      'bouncer_mint_duration_seconds_count',
      'bouncer_admission_duration_seconds_count',
      'bouncer_store_commit_batch_records_sum',
      'bouncer_revocations_applied_total',
      'bouncer_tls_handshake_failures_total',
    ],
    {
      bouncer_sessions_admitted_total: 1,
      [key('bouncer_sessions_ended_total', { cause: 'client_closed' })]: 1,
      [key('bouncer_relayed_bytes_total', { direction: 'client_to_upstream' })]: bytes,
      [key('bouncer_relayed_bytes_total', { direction: 'upstream_to_client' })]: bytes,
      [key('bouncer_relayed_frames_total', { direction: 'client_to_upstream' })]: sent.length,
      [key('bouncer_relayed_frames_total', { direction: 'upstream_to_client' })]: sent.length,
      bouncer_upstream_connect_failures_total: 1,
      bouncer_mint_duration_seconds_count: 3,
      bouncer_admission_duration_seconds_count: 1,
      // Every issued token's record went through a commit (however they were batched).
      bouncer_store_commit_batch_records_sum: 3,
    },
  );
  // Histograms are cumulative: +Inf is the count; the sum of latencies is positive.
  assert.equal(
    valueOf(after, 'bouncer_mint_duration_seconds_bucket', { le: '+Inf' }),
    valueOf(after, 'bouncer_mint_duration_seconds_count'),
  );
  assert.ok(valueOf(after, 'bouncer_mint_duration_seconds_sum') > valueOf(before, 'bouncer_mint_duration_seconds_sum'));
  // The state was confirmed by a poll a moment ago (every 200 ms).
  assert.ok(valueOf(after, 'bouncer_state_age_seconds') < 5, `state age ${valueOf(after, 'bouncer_state_age_seconds')}`);
  // The echo session is gone.
  assert.equal(valueOf(after, 'bouncer_sessions_live', { model: 'echo' }), 0);
  assert.equal(valueOf(after, 'bouncer_sessions_live', { model: 'dead' }), 0);
  assert.ok(valueOf(after, 'process_resident_memory_bytes') > 0);
  assert.ok(valueOf(after, 'process_open_fds') > 0);

  await t.test('live sessions by model, while a session is open', async (tt) => {
    const client = connect(tt, `${door}?model=echo&token=${await mintToken(server, sk)}`);
    await client.opened;
    const during = (await scrape(server)).series;
    assert.equal(valueOf(during, 'bouncer_sessions_live', { model: 'echo' }), 1);
    assert.equal(valueOf(during, 'bouncer_sessions_live', { model: 'demo' }), 0);
    // The public listener's connections: the WebSocket at least.
    assert.ok(valueOf(during, 'bouncer_connections_open') >= 1);
    client.ws.close(1000);
    await client.closed;
    await waitFor(async () => valueOf((await scrape(server)).series, 'bouncer_sessions_live', { model: 'echo' }) === 0, {
      timeoutMs: WAIT_MS,
      what: 'bouncer_sessions_live{model="echo"} back to 0',
    });
  });

  await t.test('a key revoked by the CLI: one revocation applied', async () => {
    const other = await createKey(server.dataDir, 'to-revoke');
    assert.match(other, /^sk_/);
    const id = (await runCli(['keys', 'list', '--json', '--data-dir', server.dataDir])).stdout;
    const record = JSON.parse(id).find((k) => k.name === 'to-revoke');
    const start = (await scrape(server)).series;
    const r = await runCli(['keys', 'revoke', record.id, '--data-dir', server.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      async () =>
        valueOf((await scrape(server)).series, 'bouncer_revocations_applied_total') -
          valueOf(start, 'bouncer_revocations_applied_total') >=
        1,
      { timeoutMs: WAIT_MS, what: 'the revocation counted' },
    );
    // Another change to the state (a new key) rebuilds it again: the revocation is not counted
    // again. The new key minting shows the rebuild happened.
    const later = await createKey(server.dataDir, 'after-revocation');
    await waitFor(async () => (await mint(server.base, later, {})).status === 200, {
      timeoutMs: WAIT_MS,
      what: 'the new key applied',
    });
    await sleep(500);
    assert.equal(
      valueOf((await scrape(server)).series, 'bouncer_revocations_applied_total') -
        valueOf(start, 'bouncer_revocations_applied_total'),
      1,
    );
  });
});

test('promtool check metrics finds no problem in a real scrape', { timeout: 120_000 }, async (t) => {
  const promtool = requireTool('promtool');
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A model name that needs escaping in a label value.
  const config = writeToml(dir, '[models.\'say "hi"\\now\']\nupstream = "ws://127.0.0.1:9/"\n');
  const server = await startServer({ t, dataDir: path.join(dir, 'data'), args: ['--config', config] });
  const sk = await server.defaultKey();
  // Some of everything, so that histograms and labelled series hold values.
  const token = await mintToken(server, sk);
  await mint(server.base, 'sk_nope', {});
  await refusedSession(t, `${wsBase(server.base)}/v1/stream?model=echo&token=ek_x`, 'Invalid API key');
  await echoSession(t, server, token, ['one', Buffer.from([1, 2, 3])]);

  const { text, series } = await scrape(server);
  assert.ok(series.has(key('bouncer_sessions_live', { model: 'say \\"hi\\"\\\\now' })), text);
  const lint = await new Promise((resolve, reject) => {
    const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(text);
  });
  assert.equal(lint.out.trim(), '', `promtool check metrics:\n${lint.out}`);
  assert.equal(lint.code, 0, lint.out);
});

test('a real Prometheus server scrapes the admin listener and sees exactly what was done', { timeout: 240_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();
  const prom = await startPrometheus(t, `127.0.0.1:${server.adminPort}`);

  // A first scrape, then the numbers before anything happens.
  await waitFor(async () => (await prom.query('up{job="bouncer"}'))[0]?.value === 1, {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: `prometheus scraping bouncer\n${prom.logs()}`,
  });
  const families = [
    ['bouncer_mints_total', 'outcome'],
    ['bouncer_sessions_refused_total', 'reason'],
    ['bouncer_sessions_admitted_total'],
    ['bouncer_relayed_bytes_total', 'direction'],
    ['bouncer_relayed_frames_total', 'direction'],
  ];
  const read = async () => {
    const all = new Map();
    for (const [name, label] of families) for (const [k, v] of await familyFromPrometheus(prom, name, label)) all.set(k, v);
    return all;
  };
  const before = await read();
  assert.equal(before.get(key('bouncer_mints_total', { outcome: 'issued' })), 0, 'the series exists before the first mint');

  // n mints, m refusals by reason, one echo session with known bytes.
  const n = 4;
  const tokens = [];
  for (let i = 0; i < n; i++) tokens.push(await mintToken(server, sk));
  const door = `${wsBase(server.base)}/v1/stream`;
  for (let i = 0; i < 3; i++) await refusedSession(t, `${door}?model=echo&token=ek_forged.${i}.x`, 'Invalid API key');
  for (let i = 0; i < 2; i++) await refusedSession(t, `${door}?model=nope&token=${tokens[i]}`, 'Unknown model');
  const sent = [Buffer.alloc(2048, 1), 'x'.repeat(100)];
  const bytes = await echoSession(t, server, tokens[3], sent);
  const doneAt = Date.now() / 1000;

  // Wait for a scrape that started after all of it, then compare.
  await waitFor(async () => (await prom.query('timestamp(up{job="bouncer"})'))[0]?.value > doneAt + 0.1, {
    timeoutMs: 30_000,
    intervalMs: 250,
    what: 'a scrape after the activity',
  });
  const after = await read();
  assertMovedExactly(
    before,
    after,
    families.map(([name]) => name),
    {
      [key('bouncer_mints_total', { outcome: 'issued' })]: n,
      [key('bouncer_sessions_refused_total', { reason: 'invalid_api_key' })]: 3,
      [key('bouncer_sessions_refused_total', { reason: 'unknown_model' })]: 2,
      bouncer_sessions_admitted_total: 1,
      [key('bouncer_relayed_bytes_total', { direction: 'client_to_upstream' })]: bytes,
      [key('bouncer_relayed_bytes_total', { direction: 'upstream_to_client' })]: bytes,
      [key('bouncer_relayed_frames_total', { direction: 'client_to_upstream' })]: sent.length,
      [key('bouncer_relayed_frames_total', { direction: 'upstream_to_client' })]: sent.length,
    },
  );
  // PromQL over the stored series agrees: every refusal of the run, whatever its reason.
  const refused = await prom.query('sum(bouncer_sessions_refused_total{job="bouncer"})');
  assert.equal(refused[0]?.value, 5);
  const live = await prom.query('bouncer_sessions_live{job="bouncer",model="echo"}');
  assert.equal(live[0]?.value, 0);
  const histogram = await prom.query('bouncer_mint_duration_seconds_count{job="bouncer"}');
  assert.equal(histogram[0]?.value, n);
});

test('--admin-listen off: no port of the process serves /metrics; on: exactly one, not the public one', { timeout: 120_000 }, async (t) => {
  const on = await startServer({ t });
  const onPorts = listeningPorts(on.pid);
  assert.ok(onPorts.includes(on.port) && onPorts.includes(on.adminPort), `${onPorts} ${on.port} ${on.adminPort}`);
  assert.deepEqual(await portsServingMetrics(onPorts), [on.adminPort]);

  const off = await startServer({ t, admin: 'off' });
  assert.match(off.stderr, /listening address=\S+ admin_address=off /);
  assert.equal(off.adminPort, undefined);
  const offPorts = listeningPorts(off.pid);
  assert.ok(offPorts.includes(off.port), `${offPorts}`);
  // The public port and the built-in models' loopback ports: one fewer than with the listener.
  assert.equal(offPorts.length, onPorts.length - 1, `off: ${offPorts}; on: ${onPorts}`);
  assert.deepEqual(await portsServingMetrics(offPorts), []);
});

test('the admin listener refuses to start on the public address or a port in use', { timeout: 120_000 }, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  const serve = (args) => runCli(['serve', '--data-dir', dataDir, ...args], { timeoutMs: 30_000 });

  const same = await serve(['--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${port}`]);
  assert.notEqual(same.code, 0, same.stderr);
  assert.match(same.stderr, new RegExp(`error: --admin-listen 127\\.0\\.0\\.1:${port} is the public listener's address`));
  assert.doesNotMatch(same.stderr, /info listening/);

  const wildcard = await serve(['--listen', `0.0.0.0:${port}`, '--admin-listen', `127.0.0.1:${port}`]);
  assert.notEqual(wildcard.code, 0, wildcard.stderr);
  assert.match(wildcard.stderr, /is the public listener's address/);

  // Another process holds the port (a plain listener).
  const holder = net.createServer();
  await new Promise((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const busy = holder.address().port;
  const inUse = await serve(['--listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${busy}`]);
  assert.notEqual(inUse.code, 0, inUse.stderr);
  assert.match(inUse.stderr, new RegExp(`error: cannot listen on 127\\.0\\.0\\.1:${busy} \\(--admin-listen\\): Address already in use`));
  assert.doesNotMatch(inUse.stderr, /info listening/);

  // Another Bouncer holds it: the admin listener does not share its port (no SO_REUSEPORT).
  const first = await startServer({ t });
  const second = await serve(['--listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${first.adminPort}`]);
  assert.notEqual(second.code, 0, second.stderr);
  assert.match(second.stderr, /cannot listen on .*\(--admin-listen\): Address already in use/);
  assert.equal((await request(first.adminBase, { path: '/healthz' })).status, 200);

  for (const bad of ['localhost:9090', '127.0.0.1', '127.0.0.1:99999', 'on']) {
    const r = await serve(['--listen', '127.0.0.1:0', '--admin-listen', bad]);
    assert.notEqual(r.code, 0, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--admin-listen must be IP:PORT \(port 0-65535\) or off/, `${bad}: ${r.stderr}`);
  }
});

test('--admin-listen: flag beats BOUNCER_ADMIN_LISTEN beats the file', { timeout: 120_000 }, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  const file = writeToml(dir, 'admin_listen = "off"\n');

  const fromFile = await startServer({ t, dataDir, admin: null, args: ['--config', file] });
  assert.equal(fromFile.adminPort, undefined, fromFile.logs());
  assert.match(fromFile.stderr, /admin_address=off/);
  await fromFile.stop();

  const fromEnv = await startServer({ t, dataDir, admin: null, args: ['--config', file], env: { BOUNCER_ADMIN_LISTEN: '127.0.0.1:0' } });
  assert.ok(fromEnv.adminPort, fromEnv.logs());
  assert.equal((await request(fromEnv.adminBase, { path: '/metrics' })).status, 200);
  await fromEnv.stop();

  const fromFlag = await startServer({
    t,
    dataDir,
    admin: 'off',
    args: ['--config', file],
    env: { BOUNCER_ADMIN_LISTEN: '127.0.0.1:0' },
  });
  assert.equal(fromFlag.adminPort, undefined, fromFlag.logs());
});
