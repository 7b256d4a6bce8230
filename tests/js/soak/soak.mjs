// The soak (run it with scripts/soak; docs/OPERATIONS.md, "Soak and durability"):
//   (a) the kill -9 cycle of tests/js/integration/durability.test.mjs, --cycles times (100);
//   (b) a warm-up (the door's token cache filled; --sessions (5,000) WebSocket sessions opened
//       through the real server to the built-in `echo` model, then each closed and re-opened a
//       few times), then --duration (30 min) of those sessions: every session sends a message every 1/--rate s and checks its
//       echo byte for byte; every --revoke-every s one key is revoked with its sessions ended
//       (CLI `keys revoke --end-sessions` and `POST /v1/keys/self/revoke` in turn), a new key is
//       made, and its sessions are re-opened with new tokens; the server's RSS and descriptors
//       are sampled from /proc every --sample-every s. At the end: RSS and descriptors flat,
//       descriptors back to their idle count, every acknowledged mint and revocation present
//       after a kill -9 and restart, every echo right, clean starts and shutdowns, and (with
//       --asan) no LeakSanitizer report.
// Everything binds and targets 127.0.0.1; every phase and wait is bounded. Writes
// summary.json, summary.md, samples.jsonl and the server logs into --out.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// ---------------------------------------------------------------------------------------------
// Options.

const USAGE = `usage: scripts/soak [options]
  --cycles N             kill -9 cycles (default 100; 0 skips them)
  --duration D           length of the measured run, after the warm-up: seconds, or 90s, 30m, 1h
                         (default 30m; 0 skips the soak)
  --sessions N           concurrent WebSocket sessions (default 5000)
  --sessions-per-key N   sessions under one permanent key (default 250; the server's cap is 1000)
  --rate R               messages per second per session (default 0.2: one every 5 s)
  --revoke-every S       seconds between revocations (default 30)
  --sample-every S       seconds between /proc samples (default 5)
  --warmup S             seconds of the measured run before the early plateau (default: 10% of the duration, 15 to 120)
  --rss-tolerance F      allowed RSS growth, late window over early plateau, as a fraction (default 0.05)
  --rss-slack-mib M      ... and at least this many MiB (default 8)
  --fd-slack N           allowed descriptor growth, late window over early plateau (default 8)
  --fill-token-cache N   distinct tokens presented at the door before the sessions open, to fill the
                         door's bounded token cache (65,536 entries) first (default 75000; 0: do not)
  --warmup-churn K       once every session is open, close and re-open each one K times (new tokens)
                         before the measured run, so that what grows with churn up to a bound has
                         reached it (default 3)
  --asan                 run the dev build (ASan + UBSan, LeakSanitizer on) instead of the release build
  --out DIR              results directory (default soak-results/<UTC time> in the repository)
  --seed N               seed of the kill cycles' random choices
  --server-arg ARG       one more argument for every bouncer serve (repeatable), e.g. --server-arg=--threads=2`;

function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text);
  if (!m) throw new Error(`--duration: expected seconds or 90s / 30m / 1h, got ${text}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] ?? 's'];
}

function options() {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '100' },
      duration: { type: 'string', default: '30m' },
      sessions: { type: 'string', default: '5000' },
      'sessions-per-key': { type: 'string', default: '250' },
      rate: { type: 'string', default: '0.2' },
      'revoke-every': { type: 'string', default: '30' },
      'sample-every': { type: 'string', default: '5' },
      warmup: { type: 'string' },
      'rss-tolerance': { type: 'string', default: '0.05' },
      'rss-slack-mib': { type: 'string', default: '8' },
      'fd-slack': { type: 'string', default: '8' },
      'fill-token-cache': { type: 'string', default: '75000' },
      'warmup-churn': { type: 'string', default: '3' },
      asan: { type: 'boolean', default: false },
      out: { type: 'string' },
      seed: { type: 'string' },
      'server-arg': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name, min, max = Infinity) => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < min || v > max) throw new Error(`--${name} must be a number in [${min}, ${max}], got ${values[name]}`);
    return v;
  };
  const o = {
    cycles: num('cycles', 0, 10_000),
    duration: parseDuration(values.duration),
    sessions: num('sessions', 1, 50_000),
    perKey: num('sessions-per-key', 1, 1000),
    rate: num('rate', 0.01, 100),
    revokeEvery: num('revoke-every', 2),
    sampleEvery: num('sample-every', 0.5, 600),
    rssTolerance: num('rss-tolerance', 0, 10),
    rssSlackMiB: num('rss-slack-mib', 0),
    fdSlack: num('fd-slack', 0),
    fillTokenCache: num('fill-token-cache', 0, 1_000_000),
    warmupChurn: num('warmup-churn', 0, 100),
    asan: values.asan,
    seed: values.seed === undefined ? undefined : num('seed', 0, 2 ** 32 - 1),
    serverArgs: values['server-arg'],
  };
  o.warmup = values.warmup === undefined ? Math.min(120, Math.max(15, o.duration * 0.1)) : num('warmup', 0);
  if (o.duration > 6 * 3600) throw new Error('--duration: at most 6h');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  o.out = path.resolve(values.out ?? path.join(REPO_ROOT, 'soak-results', stamp));
  return o;
}

// The options first: --help and a bad option need no binary (the harness wants one at import).
const OPTIONS = (() => {
  try {
    return options();
  } catch (e) {
    console.error(`soak: ${e.message}\n(scripts/soak --help lists the options)`);
    process.exit(2);
  }
})();
const { BOUNCER_BIN, decodeJwt, freePort, importDep, mint, request, runCli, sleep, startServer, waitFor, wsBase } = await import(
  '../lib/harness.mjs'
);
const { runKillCycles } = await import('../lib/kill_cycles.mjs');
const { WebSocket } = await importDep('ws');

// ---------------------------------------------------------------------------------------------
// Output: every line printed also goes to OUT/log.txt.

let logFile;
function say(line) {
  const text = `[${new Date().toISOString().slice(11, 19)}] ${line}`;
  console.log(text);
  logFile?.write(`${text}\n`);
}

// ---------------------------------------------------------------------------------------------
// /proc.

function procSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM'), threads: field('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

// Least-squares slope of ys over xs.
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : NaN;
}

// ---------------------------------------------------------------------------------------------
// Checks: each a name, a verdict and the figures behind it.

const checks = [];
function check(name, pass, detail) {
  checks.push({ name, pass: Boolean(pass), detail });
  say(`${pass ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
}

// A log line at warn or error level (text format), by event name.
function troubleByEvent(text) {
  const counts = {};
  for (const m of text.matchAll(/^\S+ (warn|error) (\S+)/gm)) counts[`${m[1]} ${m[2]}`] = (counts[`${m[1]} ${m[2]}`] ?? 0) + 1;
  return counts;
}

const LSAN_RE = /LeakSanitizer|ERROR: AddressSanitizer|runtime error:/;

// ---------------------------------------------------------------------------------------------
// The store's side: what was acknowledged, and whether it is all there.

const acked = {
  mints: [], // {jti, keyId}
  samples: [], // a few minted credentials to inspect with the CLI at the end: {apiKey, jti, meta}
  revocations: [], // {id, secret, by, endSessions}
};
let mintCount = 0;

function noteMint(r, keyId, meta) {
  const jti = decodeJwt(r.json.token).payload.jti;
  acked.mints.push({ jti, keyId });
  mintCount++;
  // Reservoir of 5: an unbiased sample of every mint of the run.
  if (acked.samples.length < 5) acked.samples.push({ apiKey: r.json.apiKey, jti, meta });
  else if (Math.random() < 5 / mintCount) acked.samples[Math.floor(Math.random() * 5)] = { apiKey: r.json.apiKey, jti, meta };
}

function sqlite(dbPath, sql) {
  return new Promise((resolve, reject) => {
    execFile('sqlite3', ['-batch', '-noheader', '-separator', '|', '-cmd', '.timeout 10000', dbPath, sql], { maxBuffer: 512 * 1024 * 1024 }, (e, stdout) =>
      e ? reject(e) : resolve(stdout.split('\n').filter(Boolean)),
    );
  });
}

async function createKey(dataDir, name) {
  const r = await runCli(['keys', 'create', '--name', name, '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`keys create ${name} failed (${r.code}): ${r.stderr}`);
  const id = /Created key (key_[0-9a-f]+)/.exec(r.stderr)?.[1];
  if (!id) throw new Error(`keys create printed no key id: ${r.stderr}`);
  return { id, secret: r.stdout.trim(), name };
}

// Every acknowledged mint and revocation, in the file and as the (restarted) server applies them.
async function verifyAcknowledged(server, port, label) {
  const jtis = new Set(await sqlite(server.dbPath, 'select jti from tokens'));
  const lostMints = acked.mints.filter((m) => !jtis.has(m.jti));
  const keys = new Map(
    (await sqlite(server.dbPath, 'select id, revoked_at, end_sessions from api_keys')).map((l) => {
      const [id, revokedAt, end] = l.split('|');
      return [id, { revoked: revokedAt !== '', end: end === '1' }];
    }),
  );
  const lostRevocations = acked.revocations.filter((r) => !keys.get(r.id)?.revoked || (r.endSessions && !keys.get(r.id).end));
  let stillMinting = 0;
  for (const r of acked.revocations) {
    const m = await mint(server.base, r.secret, {});
    if (m.status !== 403 || m.json?.error?.code !== 'api_key_revoked') stillMinting++;
  }
  let inspectFailures = 0;
  for (const s of acked.samples) {
    const r = await runCli(['tokens', 'inspect', s.apiKey, '--data-dir', server.dataDir, '--listen', `127.0.0.1:${port}`]);
    const line = r.stdout.split('\n').find((l) => l.startsWith('metadata:'));
    let same = false;
    try {
      assert.deepEqual(JSON.parse(line?.slice('metadata:'.length) ?? 'null'), s.meta);
      same = true;
    } catch {
      same = false;
    }
    if (!same) inspectFailures++;
  }
  check(
    `acknowledged_durable (${label})`,
    lostMints.length === 0 && lostRevocations.length === 0 && stillMinting === 0 && inspectFailures === 0,
    `${acked.mints.length - lostMints.length}/${acked.mints.length} acknowledged mints and ` +
      `${acked.revocations.length - lostRevocations.length}/${acked.revocations.length} acknowledged revocations in the file; ` +
      `${acked.revocations.length - stillMinting}/${acked.revocations.length} revoked keys refused (403); ` +
      `${acked.samples.length - inspectFailures}/${acked.samples.length} sampled records hold their metadata (tokens inspect)` +
      (lostMints.length ? `; lost e.g. ${lostMints.slice(0, 3).map((m) => m.jti).join(', ')}` : ''),
  );
}

// ---------------------------------------------------------------------------------------------
// The sessions.

const REVOKED_FRAME = '{"type":"error","error":"Token revoked"}';
const MAX_OUTSTANDING = 16; // echoes awaited per session before it skips a beat (counted)

class Soak {
  constructor(o, server, port) {
    this.o = o;
    this.server = server;
    this.port = port;
    this.slots = []; // one permanent key each: {key, revoking, sessions: []}
    this.sessions = [];
    this.openQueue = [];
    this.opening = 0;
    this.phase = 'opening'; // (filling →) opening → churning → running → draining → closing → done
    this.c = {
      sent: 0,
      echoed: 0,
      mismatched: 0,
      unexpectedMessages: 0,
      unexpectedEnds: 0,
      openFailures: 0,
      skippedBeats: 0,
      opened: 0,
      endedByRevocation: 0,
      cutByRevocation: 0, // messages sent but not echoed when a revocation ended their session
      lostAtEnd: 0,
      finalCloseNot1000: 0,
    };
    this.firstProblems = [];
    this.revocationRounds = [];
  }

  problem(kind, text) {
    if (this.firstProblems.length < 20) this.firstProblems.push(`${kind}: ${text}`);
    if (this.firstProblems.length <= 5) say(`problem ${kind}: ${text}`);
  }

  async makeKeys() {
    const k = Math.ceil(this.o.sessions / this.o.perKey);
    for (let j = 0; j < k; j++) this.slots.push({ key: await createKey(this.server.dataDir, `soak-${j}-0`), revoking: false, generation: 0, sessions: [] });
    await waitFor(async () => (await mint(this.server.base, this.slots.at(-1).key.secret, {})).status === 200, {
      timeoutMs: 15_000,
      what: 'the server to know the new keys',
    });
    for (let i = 0; i < this.o.sessions; i++) {
      const s = { idx: i, slot: Math.floor(i / this.o.perKey), gen: 0, seq: 0, ws: null, state: 'idle', expected: [], nextDue: 0, ending: null };
      this.sessions.push(s);
      this.slots[s.slot].sessions.push(s);
    }
  }

  // The door remembers up to 65,536 verified tokens (src/server/token_cache.h), forgetting one
  // only when full; every token of the soak is new, so without this the cache would grow for
  // the whole run and look like a leak. Each token here is verified, remembered, then refused
  // (its model is not the one asked for) without reaching an upstream.
  async fillTokenCache(n, key) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const outcomes = {};
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const meta = { fill: i };
        const r = await mint(this.server.base, key.secret, { expiresIn: 3600, allowedModels: ['demo'], metadata: meta }, { agent, timeoutMs: 30_000 });
        if (r.status !== 200) throw new Error(`fill: mint answered ${r.status} ${r.text}`);
        noteMint(r, key.id, meta);
        const [code, reason] = await new Promise((resolve) => {
          const ws = new WebSocket(`${wsBase(this.server.base)}/v1/stream?model=echo&api_key=${encodeURIComponent(r.json.apiKey)}`, { perMessageDeflate: false, handshakeTimeout: 30_000 });
          ws.on('error', () => {});
          ws.on('close', (c, why) => resolve([c, why.toString()]));
        });
        outcomes[`${code} ${reason}`] = (outcomes[`${code} ${reason}`] ?? 0) + 1;
        if ((i + 1) % 10_000 === 0) say(`token cache fill: ${i + 1}/${n} tokens presented, server RSS ${(procSample(this.server.pid).rssKiB / 1024).toFixed(1)} MiB`);
      }
    };
    try {
      await Promise.all(Array.from({ length: 32 }, worker));
    } finally {
      agent.destroy();
    }
    return { tokens: n, seconds: (performance.now() - started) / 1000, outcomes };
  }

  openAll(list) {
    for (const s of list) {
      s.state = 'queued';
      this.openQueue.push(s);
    }
    this.pump();
  }

  pump() {
    while (this.opening < 64 && this.openQueue.length) {
      const s = this.openQueue.shift();
      this.opening++;
      this.open(s)
        .catch((e) => this.problem('open', e.message))
        .finally(() => {
          this.opening--;
          this.pump();
        });
    }
  }

  // Sessions are kept open (re-opened when they end unexpectedly) and send traffic.
  get live() {
    return this.phase === 'opening' || this.phase === 'churning' || this.phase === 'running';
  }

  get openCount() {
    let n = 0;
    for (const s of this.sessions) if (s.state === 'open') n++;
    return n;
  }

  async open(s) {
    const slot = this.slots[s.slot];
    const key = slot.key;
    s.state = 'minting';
    s.gen++;
    const meta = { s: s.idx, g: s.gen };
    let r;
    try {
      // One connection per mint, closed with its answer: between rounds the server holds only
      // the sessions' descriptors, so the counts of two windows compare exactly.
      r = await mint(this.server.base, key.secret, { expiresIn: 900, allowedModels: ['echo'], metadata: meta }, { timeoutMs: 30_000 });
    } catch (e) {
      return this.openFailed(s, `mint: ${e.message}`);
    }
    if (r.status !== 200) return this.openFailed(s, `mint answered ${r.status} ${r.text}`);
    noteMint(r, key.id, meta);
    s.state = 'connecting';
    const ws = new WebSocket(`${wsBase(this.server.base)}/v1/stream?model=echo&api_key=${encodeURIComponent(r.json.apiKey)}`, {
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    s.ws = ws;
    s.expected = [];
    s.sawRevokedFrame = false;
    ws.on('message', (data, isBinary) => this.onMessage(s, data, isBinary));
    await new Promise((resolve) => {
      ws.once('open', () => {
        s.state = 'open';
        s.openedAt = performance.now();
        s.nextDue = performance.now() + Math.random() * (1000 / this.o.rate); // spread the sessions' beats
        this.c.opened++;
        resolve();
      });
      ws.on('error', (e) => {
        if (s.state === 'connecting') this.problem('connect', e.message);
      });
      ws.once('close', (code, reason) => {
        const wasConnecting = s.state === 'connecting';
        this.onClose(s, ws, code, reason.toString());
        if (wasConnecting) this.c.openFailures++;
        resolve();
      });
    });
  }

  openFailed(s, why) {
    this.c.openFailures++;
    this.problem('open', `session ${s.idx}: ${why}`);
    s.state = 'closed';
    if (this.live) setTimeout(() => this.openAll([s]), 1000).unref();
  }

  onMessage(s, data, isBinary) {
    const slot = this.slots[s.slot];
    if (!isBinary && data.length === REVOKED_FRAME.length && data.toString() === REVOKED_FRAME) {
      s.sawRevokedFrame = true;
      if (!slot.revoking) {
        this.c.unexpectedMessages++;
        this.problem('message', `session ${s.idx}: Token revoked frame while its key is not being revoked`);
      }
      return;
    }
    const want = s.expected.shift();
    if (!want) {
      this.c.unexpectedMessages++;
      this.problem('message', `session ${s.idx}: a message with no echo due: ${data.subarray(0, 80).toString()}`);
      return;
    }
    if (want.binary !== isBinary || !want.data.equals(data)) {
      this.c.mismatched++;
      this.problem('echo', `session ${s.idx}: echo #${want.seq} differs (${isBinary ? 'binary' : 'text'} ${data.length} bytes, wanted ${want.binary ? 'binary' : 'text'} ${want.data.length})`);
      return;
    }
    this.c.echoed++;
  }

  onClose(s, ws, code, reason) {
    if (s.ws !== ws) return;
    s.state = 'closed';
    s.ws = null;
    const outstanding = s.expected.length;
    s.expected = [];
    const slot = this.slots[s.slot];
    if (s.ending === 'churn') {
      s.ending = null;
      if (code !== 1000) {
        this.c.unexpectedEnds++;
        this.problem('churn close', `session ${s.idx}: ${code} ${reason}`);
      }
      this.c.lostAtEnd += outstanding;
      return;
    }
    if (s.ending === 'final') {
      if (code !== 1000) {
        this.c.finalCloseNot1000++;
        this.problem('final close', `session ${s.idx}: ${code} ${reason}`);
      }
      this.c.lostAtEnd += outstanding;
      return;
    }
    if (slot.revoking && code === 1008 && reason === 'Token revoked') {
      this.c.endedByRevocation++;
      this.c.cutByRevocation += outstanding;
      if (!s.sawRevokedFrame) this.problem('revocation', `session ${s.idx}: 1008 without the Token revoked frame`);
      slot.lastClosedAt = performance.now();
      return;
    }
    if (this.phase === 'done') return;
    this.c.unexpectedEnds++;
    this.problem('session end', `session ${s.idx} (slot ${s.slot}): ${code} ${reason} with ${outstanding} echoes due`);
    if (this.live) setTimeout(() => this.openAll([s]), 1000).unref();
  }

  // Every 100 ms: each open session whose beat is due sends one message.
  beat() {
    if (!this.live) return;
    const now = performance.now();
    const period = 1000 / this.o.rate;
    for (const s of this.sessions) {
      // Sessions of a key being revoked keep sending: their ending meets messages in flight.
      if (s.state !== 'open' || now < s.nextDue || s.ending) continue;
      s.nextDue = now + period * (0.5 + Math.random());
      if (s.expected.length >= MAX_OUTSTANDING) {
        this.c.skippedBeats++;
        continue;
      }
      const seq = ++s.seq;
      const binary = seq % 2 === 0;
      const pad = randomBytes(8 + Math.floor(Math.random() * 500));
      const data = binary
        ? Buffer.concat([Buffer.from(`${s.idx}.${s.gen}.${seq}.`), pad])
        : Buffer.from(`${s.idx}.${s.gen}.${seq}.${pad.toString('base64')}`);
      s.expected.push({ seq, binary, data });
      s.ws.send(binary ? data : data.toString(), { binary });
      this.c.sent++;
    }
  }

  // One revocation round on slot j: revoke its key with its sessions ended, check they ended
  // and that the key is refused, make a new key, re-open the sessions with new tokens.
  async revokeRound(round) {
    const j = round % this.slots.length;
    const slot = this.slots[j];
    const old = slot.key;
    const by = round % 2 === 0 ? 'cli' : 'api';
    const live = slot.sessions.filter((s) => s.state === 'open').length;
    slot.revoking = true;
    slot.lastClosedAt = null;
    const t0 = performance.now();
    if (by === 'cli') {
      const r = await runCli(['keys', 'revoke', old.id, '--end-sessions', '--data-dir', this.server.dataDir]);
      if (r.code !== 0) throw new Error(`keys revoke ${old.id} failed (${r.code}): ${r.stderr}`);
    } else {
      const r = await request(this.server.base, { method: 'POST', path: '/v1/keys/self/revoke', headers: { 'X-API-KEY': old.secret }, body: { endSessions: true } });
      if (r.status !== 200 || r.json?.id !== old.id) throw new Error(`self-revoke of ${old.id} answered ${r.status} ${r.text}`);
    }
    const ackedAt = performance.now();
    acked.revocations.push({ id: old.id, secret: old.secret, by, endSessions: true });
    let allEnded = true;
    try {
      await waitFor(() => slot.sessions.every((s) => s.state === 'closed'), { timeoutMs: 15_000, intervalMs: 20, what: 'sessions to end' });
    } catch {
      allEnded = false;
      this.problem('revocation', `round ${round}: ${slot.sessions.filter((s) => s.state !== 'closed').length} sessions of ${old.id} still live 15 s after the revocation`);
    }
    // From the acknowledgement (0 when the sessions ended before the CLI had even exited) and
    // from the moment the revocation was asked for.
    const endedMs = slot.lastClosedAt ? Math.max(0, slot.lastClosedAt - ackedAt) : null;
    const endedFromAskMs = slot.lastClosedAt ? slot.lastClosedAt - t0 : null;
    const refused = await mint(this.server.base, old.secret, {});
    slot.generation++;
    slot.key = await createKey(this.server.dataDir, `soak-${j}-${slot.generation}`);
    await waitFor(async () => (await mint(this.server.base, slot.key.secret, {})).status === 200, {
      timeoutMs: 15_000,
      what: 'the server to know the new key',
    });
    slot.revoking = false;
    this.openAll(slot.sessions);
    await waitFor(() => slot.sessions.every((s) => s.state === 'open'), { timeoutMs: 60_000, intervalMs: 50, what: 'the sessions to re-open' }).catch(() =>
      this.problem('reopen', `round ${round}: not every session of slot ${j} re-opened within 60 s`),
    );
    const rec = {
      round,
      slot: j,
      by,
      keyId: old.id,
      liveSessions: live,
      allEnded,
      lastEndedMsAfterAck: endedMs === null ? null : Math.round(endedMs),
      lastEndedMsAfterAsk: endedFromAskMs === null ? null : Math.round(endedFromAskMs),
      revokeMs: Math.round(ackedAt - t0),
      refusedStatus: refused.status,
      reopenMs: Math.round(performance.now() - ackedAt),
    };
    this.revocationRounds.push(rec);
    say(
      `revocation ${round} (${by}) of ${old.id}: ${live} live sessions ended ` +
        `${rec.lastEndedMsAfterAck === null ? '(none live)' : `${rec.lastEndedMsAfterAsk} ms after the revocation was asked for, ${rec.lastEndedMsAfterAck} ms after its acknowledgement`}, ` +
        `key then answered ${refused.status}; new key ${slot.key.id}, sessions re-opened in ${rec.reopenMs} ms`,
    );
  }

  outstanding() {
    let n = 0;
    for (const s of this.sessions) if (s.state === 'open') n += s.expected.length;
    return n;
  }

  // The warm-up churn: slot by slot, the client stops sending, waits for its echoes, closes
  // (1000) and re-opens each session with a new token; `times` passes over every session.
  async churn(times) {
    this.phase = 'churning';
    for (let pass = 1; pass <= times; pass++) {
      const started = performance.now();
      for (const slot of this.slots) {
        const batch = slot.sessions.filter((s) => s.state === 'open');
        for (const s of batch) s.ending = 'churn';
        await waitFor(() => batch.every((s) => s.expected.length === 0), { timeoutMs: 30_000, intervalMs: 20, what: 'echoes before a churn' }).catch(() => {});
        for (const s of batch) s.ws?.close(1000, 'churn');
        await waitFor(() => batch.every((s) => s.state === 'closed'), { timeoutMs: 30_000, intervalMs: 20, what: 'churned sessions to close' });
        this.openAll(batch);
        await waitFor(() => batch.every((s) => s.state === 'open'), { timeoutMs: 120_000, intervalMs: 50, what: 'churned sessions to re-open' });
      }
      say(`warm-up churn ${pass}/${times}: every session closed and re-opened in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }

  async closeAll() {
    this.phase = 'closing';
    for (const s of this.sessions) {
      if (s.state !== 'open') continue;
      s.ending = 'final';
      s.ws.close(1000, 'soak done');
    }
    await waitFor(() => this.sessions.every((s) => s.state === 'closed' || s.state === 'idle'), {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'every session to close',
    });
    this.phase = 'done';
  }
}

// ---------------------------------------------------------------------------------------------
// The soak itself.

// Every simulated client connects from 127.0.0.1: the per-address caps would see one client with
// 5,000 sessions and refuse it, so they are off here (the limits suite tests them).
const LOAD_FROM_ONE_ADDRESS = ['--max-connections-per-ip', '0', '--max-handshakes-per-ip', '0', '--max-invalid-credentials-per-ip', '0'];

async function soak(o, results) {
  const port = await freePort();
  const dataDir = path.join(o.out, 'data');
  const serverLog = (name) => createWriteStream(path.join(o.out, `${name}.log`));
  const servers = [];
  const startLogged = async (name, extra = {}) => {
    const server = await startServer({ dataDir, port, args: [...LOAD_FROM_ONE_ADDRESS, ...o.serverArgs], env: o.asan ? { ASAN_OPTIONS: 'detect_leaks=1' } : {}, wait: false, ...extra });
    const file = serverLog(name);
    server.child.stderr.on('data', (d) => file.write(d));
    server.child.stdout.on('data', (d) => file.write(d));
    server.child.on('close', () => file.end());
    servers.push({ name, server });
    await server.ready();
    return server;
  };

  let server = await startLogged('server-soak');
  const firstKey = await server.defaultKey();
  // The idle descriptor count: after start and one mint (the store is warm), no client connected.
  await mint(server.base, firstKey, {});
  await sleep(1000);
  const idle = procSample(server.pid);
  say(`soak server pid ${server.pid} on 127.0.0.1:${port} (${o.asan ? 'dev build, ASan + LSan' : 'release build'}); idle: ${idle.fds} descriptors, RSS ${(idle.rssKiB / 1024).toFixed(1)} MiB`);

  const run = new Soak(o, server, port);
  const samples = [];
  const samplesFile = createWriteStream(path.join(o.out, 'samples.jsonl'));
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  let lastSent = 0;
  const sample = () => {
    if (server.exit) return;
    try {
      const p = procSample(server.pid);
      const s = {
        t: Number(elapsed().toFixed(1)),
        phase: run.phase,
        rssKiB: p.rssKiB,
        fds: p.fds,
        threads: p.threads,
        sessionsOpen: run.openCount,
        sent: run.c.sent,
        echoed: run.c.echoed,
        msgsPerSec: Math.round((run.c.sent - lastSent) / o.sampleEvery),
        clientRssKiB: Math.round(process.memoryUsage().rss / 1024),
      };
      lastSent = run.c.sent;
      samples.push(s);
      samplesFile.write(`${JSON.stringify(s)}\n`);
    } catch (e) {
      run.problem('sample', e.message);
    }
  };
  const sampler = setInterval(sample, o.sampleEvery * 1000);
  const beater = setInterval(() => run.beat(), 100);
  let lastReport = 0;
  const reporter = setInterval(() => {
    const s = samples.at(-1);
    if (!s || s.t === lastReport) return;
    lastReport = s.t;
    say(
      `t=${s.t.toFixed(0)}s ${s.phase}: ${s.sessionsOpen} open, RSS ${(s.rssKiB / 1024).toFixed(1)} MiB, ${s.fds} fds, ` +
        `${s.msgsPerSec} msg/s, sent ${run.c.sent} echoed ${run.c.echoed}, problems ${run.firstProblems.length}`,
    );
  }, 30_000);

  try {
    if (o.fillTokenCache > 0) {
      run.phase = 'filling';
      const fill = await run.fillTokenCache(o.fillTokenCache, { id: (await sqlite(server.dbPath, "select id from api_keys where name = 'default'"))[0], secret: firstKey });
      const refused = fill.outcomes['1008 Model not allowed'] ?? 0;
      check('token_cache_filled', refused === fill.tokens,
        `${fill.tokens} distinct tokens verified and refused (Model not allowed) in ${fill.seconds.toFixed(0)} s; outcomes ${JSON.stringify(fill.outcomes)}; server RSS now ${(procSample(server.pid).rssKiB / 1024).toFixed(1)} MiB`);
      results.soak.tokenCacheFill = fill;
    }
    await run.makeKeys();

    // Open every session.
    const tStart = elapsed();
    run.phase = 'opening';
    run.openAll(run.sessions);
    await waitFor(() => run.openCount === o.sessions, { timeoutMs: Math.max(120_000, o.sessions * 100), intervalMs: 100, what: `${o.sessions} sessions to open` });
    const tAllOpen = elapsed();
    say(`all ${o.sessions} sessions open after ${(tAllOpen - tStart).toFixed(1)} s (${run.slots.length} keys, ${o.perKey} sessions each at most)`);
    await run.churn(o.warmupChurn);
    const tOpen = elapsed(); // the measured run starts
    const sentBefore = run.c.sent;
    run.phase = 'running';
    sample();

    // Run: revocation rounds until the end.
    const end = tOpen + o.duration;
    let round = 0;
    while (elapsed() + o.revokeEvery < end) {
      await sleep(Math.max(0, (tOpen + (round + 1) * o.revokeEvery - elapsed()) * 1000));
      if (elapsed() >= end) break;
      await run.revokeRound(round++);
    }
    await sleep(Math.max(0, (end - elapsed()) * 1000));
    const tSteadyEnd = elapsed();

    // Drain: no new message; every echo due arrives.
    run.phase = 'draining';
    await waitFor(() => run.outstanding() === 0, { timeoutMs: 30_000, intervalMs: 50, what: 'the echoes due' }).catch(() => {});
    const lost = run.outstanding();
    sample();
    await run.closeAll();
    run.c.lostAtEnd += lost;

    // Descriptors back to idle once every client has gone.
    let afterFds = NaN;
    await waitFor(
      () => {
        afterFds = procSample(server.pid).fds;
        return afterFds <= idle.fds;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'descriptors back to idle' },
    ).catch(() => {});
    sample();
    clearInterval(sampler);
    clearInterval(beater);
    clearInterval(reporter);
    samplesFile.end();

    // ---- verdicts on the run
    const c = run.c;
    check('sessions_opened', true, `${o.sessions} sessions open ${(tAllOpen - tStart).toFixed(1)} s after the first was asked for, then re-opened ${o.warmupChurn} times in ${(tOpen - tAllOpen).toFixed(0)} s (warm-up churn); ${c.opened} opens in all`);
    check(
      'traffic_echoed',
      c.mismatched === 0 && c.unexpectedMessages === 0 && c.lostAtEnd === 0 && c.sent === c.echoed + c.cutByRevocation,
      `${c.sent} messages sent, ${c.echoed} echoed byte for byte, ${c.mismatched} wrong, ${c.unexpectedMessages} unexpected, ` +
        `${c.cutByRevocation} cut by a revocation ending their session, ${c.lostAtEnd} missing at the end; ${c.skippedBeats} beats skipped (16 echoes due)`,
    );
    check('no_unexpected_session_end', c.unexpectedEnds === 0 && c.openFailures === 0 && c.finalCloseNot1000 === 0,
      `${c.unexpectedEnds} sessions ended other than by a revocation or the client, ${c.openFailures} failed opens, ${c.finalCloseNot1000} final closes not answered 1000`);
    const rr = run.revocationRounds;
    const worst = Math.max(0, ...rr.map((r) => r.lastEndedMsAfterAck ?? 0));
    const worstAsk = Math.max(0, ...rr.map((r) => r.lastEndedMsAfterAsk ?? 0));
    check(
      'revocations_end_sessions',
      rr.length > 0 && rr.every((r) => r.allEnded && r.refusedStatus === 403),
      `${rr.length} rounds (${rr.filter((r) => r.by === 'cli').length} CLI, ${rr.filter((r) => r.by === 'api').length} API); ` +
        `${c.endedByRevocation} sessions ended with 1008 Token revoked, the last of a round at most ${worst} ms after the acknowledgement ` +
        `(${worstAsk} ms after the revocation was asked for, a CLI start included); ` +
        `every revoked key then answered 403: ${rr.every((r) => r.refusedStatus === 403)}`,
    );

    // Flatness: the early plateau (the first quarter of the steady part, after the warm-up)
    // against the late window (its last quarter). Each window spans several revocation rounds,
    // so both see the same mix of churn; medians so that one round's burst does not decide.
    const steady = samples.filter((s) => s.phase === 'running' && s.t >= tOpen + o.warmup && s.t <= tSteadyEnd);
    const span = tSteadyEnd - (tOpen + o.warmup);
    const early = steady.filter((s) => s.t <= tOpen + o.warmup + span / 4);
    const late = steady.filter((s) => s.t >= tSteadyEnd - span / 4);
    const flat = { earlySamples: early.length, lateSamples: late.length };
    if (early.length >= 3 && late.length >= 3) {
      const eR = median(early.map((s) => s.rssKiB));
      const lR = median(late.map((s) => s.rssKiB));
      const allowR = Math.max(eR * o.rssTolerance, o.rssSlackMiB * 1024);
      const perHour = slope(steady.map((s) => s.t), steady.map((s) => s.rssKiB)) * 3600 / 1024;
      Object.assign(flat, { rssEarlyMiB: eR / 1024, rssLateMiB: lR / 1024, rssAllowedGrowthMiB: allowR / 1024, rssSlopeMiBPerHour: perHour });
      check('rss_flat', lR - eR <= allowR,
        `median RSS ${(eR / 1024).toFixed(1)} MiB early (t ${early[0].t}–${early.at(-1).t} s), ${(lR / 1024).toFixed(1)} MiB late (t ${late[0].t}–${late.at(-1).t} s): ` +
          `${((lR - eR) / 1024).toFixed(1)} MiB, allowed ${(allowR / 1024).toFixed(1)}; least-squares slope over the steady part ${perHour.toFixed(1)} MiB/h`);
      // Descriptors, compared where the same sessions are open: the per-sample excess over the
      // sessions open at that moment (each session holds the same descriptors, whatever its key).
      const overIdle = (s) => s.fds - idle.fds;
      const full = (xs) => xs.filter((s) => s.sessionsOpen === o.sessions);
      const eF = full(early).map(overIdle);
      const lF = full(late).map(overIdle);
      if (eF.length && lF.length) {
        const eMax = Math.max(...eF);
        const lMax = Math.max(...lF);
        Object.assign(flat, { fdsEarlyMax: eMax + idle.fds, fdsLateMax: lMax + idle.fds, fdsIdle: idle.fds });
        check('fds_flat', lMax - eMax <= o.fdSlack,
          `with all ${o.sessions} sessions open: at most ${eMax + idle.fds} descriptors early, ${lMax + idle.fds} late (allowed +${o.fdSlack}); ` +
            `${((eMax) / o.sessions).toFixed(2)} per session`);
      } else {
        check('fds_flat', false, 'no sample with every session open in one of the windows: run longer or sample more often');
      }
    } else {
      check('rss_flat', false, `too few samples in the windows (${early.length} early, ${late.length} late): run longer or sample more often`);
      check('fds_flat', false, 'too few samples in the windows');
    }
    check('fds_back_to_idle', afterFds <= idle.fds, `${afterFds} descriptors once every client had gone; ${idle.fds} idle at the start`);
    const trouble = troubleByEvent(server.stderr);
    check('server_log_clean', Object.keys(trouble).length === 0, Object.keys(trouble).length ? `warn/error lines: ${JSON.stringify(trouble)}` : 'no warn or error line in the soak server\'s log');

    Object.assign(results.soak, {
      port,
      idle,
      tAllOpenSeconds: tAllOpen - tStart,
      warmupChurnSeconds: tOpen - tAllOpen,
      counters: c,
      revocationRounds: rr,
      flatness: flat,
      firstProblems: run.firstProblems,
      peakRssMiB: Math.max(...samples.map((s) => s.rssKiB)) / 1024,
      peakFds: Math.max(...samples.map((s) => s.fds)),
      peakClientRssMiB: Math.max(...samples.map((s) => s.clientRssKiB)) / 1024,
      messagesPerSecond: Math.round((c.sent - sentBefore) / Math.max(1, tSteadyEnd - tOpen)), // the measured run's
    });

    // ---- the end: nothing acknowledged lost, clean starts and shutdowns
    if (o.asan) {
      // LeakSanitizer reports at exit: the soak process itself must stop cleanly.
      const exit = await server.stop({ timeoutMs: 60_000 });
      check('soak_server_clean_shutdown', exit.code === 0 && !LSAN_RE.test(server.stderr),
        `exit ${JSON.stringify(exit)}; ${LSAN_RE.test(server.stderr) ? 'a sanitizer report in its log' : 'no sanitizer report'}`);
      server = await startLogged('server-restart-1');
      checkCleanStart(server, 'restart after the soak');
      await verifyAcknowledged(server, port, 'after SIGTERM and restart');
    }
    // kill -9 with mints and a revocation in flight, then restart and look for everything.
    await finalKill(server, run.slots[0].key, dataDir);
    server = await startLogged('server-restart-final');
    checkCleanStart(server, 'restart after the final kill -9');
    await verifyAcknowledged(server, port, 'after the final kill -9 and restart');
    const exit = await server.stop({ timeoutMs: 60_000 });
    check('final_clean_shutdown', exit.code === 0 && !(o.asan && LSAN_RE.test(server.stderr)),
      `exit ${JSON.stringify(exit)}${o.asan ? (LSAN_RE.test(server.stderr) ? '; a sanitizer report in its log' : '; no sanitizer report') : ''}`);
    results.soak.acknowledged = { mints: acked.mints.length, revocations: acked.revocations.length };
    results.soak.samples = samples.length;
  } finally {
    clearInterval(sampler);
    clearInterval(beater);
    clearInterval(reporter);
    for (const { server: s } of [...servers].reverse()) await s.stop();
  }
}

function checkCleanStart(server, label) {
  const trouble = troubleByEvent(server.stderr);
  check(`clean_start (${label})`, !/sk_/.test(server.stdout) && Object.keys(trouble).length === 0,
    `${/sk_/.test(server.stdout) ? 'a NEW default key was created; ' : ''}${Object.keys(trouble).length ? JSON.stringify(trouble) : 'no warn or error line, no new default key'}`);
}

async function finalKill(server, key, dataDir) {
  const spare = await createKey(dataDir, 'soak-final');
  await waitFor(async () => (await mint(server.base, spare.secret, {})).status === 200, { timeoutMs: 15_000, what: 'the server to know the final key' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let stopping = false;
  let inFlight = 0;
  let n = 0;
  const worker = async () => {
    while (!stopping) {
      inFlight++;
      const meta = { final: n++ };
      try {
        const r = await mint(server.base, key.secret, { expiresIn: 900, metadata: meta }, { agent, timeoutMs: 15_000 });
        if (r.status === 200) noteMint(r, key.id, meta);
      } catch {
        /* cut off by the kill */
      } finally {
        inFlight--;
      }
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  await sleep(800);
  // The revocation goes out shortly before the kill: acknowledged or cut off, either is allowed,
  // but an acknowledged one must be there after the restart.
  const revoke = request(server.base, { method: 'POST', path: '/v1/keys/self/revoke', headers: { 'X-API-KEY': spare.secret }, body: { endSessions: true } }).then(
    (r) => {
      if (r.status === 200) acked.revocations.push({ id: spare.id, secret: spare.secret, by: 'api', endSessions: true });
    },
    () => {},
  );
  await sleep(400);
  const inFlightAtKill = inFlight;
  stopping = true;
  await server.kill9();
  await Promise.all([...workers, revoke]);
  agent.destroy();
  say(`final kill -9 with ${inFlightAtKill} mints in flight`);
}

// ---------------------------------------------------------------------------------------------
// Summary.

function writeSummary(o, results) {
  results.checks = checks;
  results.pass = checks.length > 0 && checks.every((c) => c.pass);
  results.finishedAt = new Date().toISOString();
  writeFileSync(path.join(o.out, 'summary.json'), `${JSON.stringify(results, null, 2)}\n`);
  const s = results.soak;
  const lines = [
    `# Soak ${results.pass ? 'PASSED' : 'FAILED'}`,
    '',
    `${results.startedAt} → ${results.finishedAt}; binary ${results.binary} (${o.asan ? 'dev build, ASan + UBSan, LeakSanitizer on' : 'release build'}); ` +
      `options ${JSON.stringify(results.options)}`,
    '',
    '| check | verdict | figures |',
    '|---|---|---|',
    ...checks.map((c) => `| ${c.name} | ${c.pass ? 'pass' : '**FAIL**'} | ${c.detail.replace(/\|/g, '\\|')} |`),
  ];
  if (results.cycles?.figures?.length) {
    const f = results.cycles.figures;
    const sum = (k) => f.reduce((a, x) => a + x[k], 0);
    lines.push(
      '',
      `## kill -9 cycles (seed ${results.cycles.seed})`,
      '',
      '| cycles | mints answered 200 | of them after the kill | in flight at the kill (min–max) | cut off | revocations acknowledged / cut off | restart ms (median, max) |',
      '|---|---|---|---|---|---|---|',
      `| ${f.length} | ${sum('answered')} | ${sum('late')} | ${Math.min(...f.map((x) => x.inFlightAtKill))}–${Math.max(...f.map((x) => x.inFlightAtKill))} | ${sum('cutOff')} | ${f.filter((x) => x.revocationAcked).length} / ${f.filter((x) => !x.revocationAcked).length} | ${median(f.map((x) => x.restartMs))}, ${Math.max(...f.map((x) => x.restartMs))} |`,
    );
  }
  if (s?.flatness) {
    const fl = s.flatness;
    const mib = (x) => (x === undefined ? '-' : x.toFixed(1));
    lines.push(
      '',
      '## soak',
      '',
      '| figure | value |',
      '|---|---|',
      `| sessions / keys | ${results.options.sessions} / ${Math.ceil(results.options.sessions / results.options.perKey)} |`,
      `| all open after | ${s.tAllOpenSeconds?.toFixed(1)} s |`,
      `| messages sent / echoed (whole soak) | ${s.counters?.sent} / ${s.counters?.echoed} (measured run: ${s.messagesPerSecond} msg/s) |`,
      `| revocation rounds | ${s.revocationRounds?.length} (${s.counters?.endedByRevocation} sessions ended) |`,
      `| RSS idle / early / late / peak (MiB) | ${mib(s.idle?.rssKiB / 1024)} / ${mib(fl.rssEarlyMiB)} / ${mib(fl.rssLateMiB)} / ${mib(s.peakRssMiB)} |`,
      `| RSS slope over the steady part | ${mib(fl.rssSlopeMiBPerHour)} MiB/h |`,
      `| descriptors idle / early max / late max / peak | ${s.idle?.fds} / ${fl.fdsEarlyMax ?? '-'} / ${fl.fdsLateMax ?? '-'} / ${s.peakFds} |`,
      `| acknowledged mints / revocations checked | ${s.acknowledged?.mints ?? '-'} / ${s.acknowledged?.revocations ?? '-'} |`,
      `| client (Node) peak RSS | ${mib(s.peakClientRssMiB)} MiB |`,
    );
  }
  if (s?.firstProblems?.length) lines.push('', '## first problems', '', ...s.firstProblems.map((p) => `- ${p}`));
  lines.push('', 'samples: samples.jsonl (one /proc sample a line); server logs: server-*.log; everything printed: log.txt', '');
  writeFileSync(path.join(o.out, 'summary.md'), lines.join('\n'));
  say(`summary: ${path.join(o.out, 'summary.md')} (and summary.json)`);
  console.log(`\n${lines.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const o = OPTIONS;
  mkdirSync(o.out, { recursive: true });
  logFile = createWriteStream(path.join(o.out, 'log.txt'));
  const results = {
    startedAt: new Date().toISOString(),
    binary: BOUNCER_BIN,
    options: { ...o, out: undefined },
    nofile: readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)/m)?.[1],
    soak: {},
  };
  say(`soak: results in ${o.out}; binary ${BOUNCER_BIN}; open-file limit ${results.nofile}`);
  // The server holds three descriptors per session (see scripts/soak); leave room for the rest.
  if (o.duration > 0 && Number(results.nofile) < o.sessions * 3 + 1024) {
    throw new Error(`the open-file limit ${results.nofile} is too low for ${o.sessions} sessions (${o.sessions * 3 + 1024} wanted): raise the hard limit (ulimit -Hn)`);
  }
  // A watchdog: whatever happens, the run ends (bounded: the soak, the cycles, and margins).
  const limitMs = (o.duration + 900 + o.cycles * 60 + o.fillTokenCache * 0.02 + o.warmupChurn * o.sessions * 0.05) * 1000;
  setTimeout(() => {
    say(`watchdog: the run took more than ${limitMs / 1000} s; stopping`);
    check('bounded', false, 'the watchdog stopped the run');
    writeSummary(o, results);
    process.exit(1);
  }, limitMs).unref();

  try {
    if (o.cycles > 0) {
      say(`(a) ${o.cycles} kill -9 cycles`);
      const started = performance.now();
      results.cycles = await runKillCycles({ cycles: o.cycles, seed: o.seed, log: say, serverArgs: o.serverArgs });
      const mints = results.cycles.figures.reduce((a, f) => a + f.answered, 0);
      check('kill_cycles', true,
        `${o.cycles} cycles in ${((performance.now() - started) / 1000).toFixed(0)} s: ${mints} mints answered 200 and ${results.cycles.revocations} revocations acknowledged, none lost; every restart clean`);
    }
  } catch (e) {
    check('kill_cycles', false, e.message.split('\n')[0]);
    results.cycles = { error: e.message };
  }
  try {
    if (o.duration > 0) {
      say(`(b) soak: ${o.sessions} sessions for ${o.duration} s, a message every ${(1 / o.rate).toFixed(1)} s each, a revocation every ${o.revokeEvery} s`);
      await soak(o, results);
    }
  } catch (e) {
    check('soak', false, e.stack.split('\n').slice(0, 3).join(' '));
  }
  writeSummary(o, results);
  process.exit(results.pass ? 0 : 1);
}

await main();
