// Acknowledged means durable, again and again: mint under load, revoke keys while the mints
// run, kill -9 the server with requests in flight, restart it on the same data dir, and find a
// record for EVERY mint answered 200 and every revocation acknowledged, so far, in every cycle.
// The restarted server is the next cycle's server, so each cycle also proves a clean start on
// a data dir that was just cut off mid-write.
//
// Used by tests/js/integration/durability.test.mjs (20 cycles in CI) and scripts/soak (100).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { promisify } from 'node:util';

import { decodeJwt, freePort, mint, request, requireTool, runCli, sleep, startServer, waitFor } from './harness.mjs';

const execFileP = promisify(execFile);

export const DEFAULTS = {
  workers: 16,
  // Each cycle loads for a random time in [minLoadMs, maxLoadMs], so the kill lands at every
  // phase of the writer's group commit...
  minLoadMs: 600,
  maxLoadMs: 1400,
  // ...and until `wantAnswered` mints were answered, but never longer than `capLoadMs`.
  wantAnswered: 60,
  capLoadMs: 15_000,
  floor: 20, // fewer answered mints in a cycle than this and the cycle proves too little
  expiresIn: 3600, // tokens of the first cycle must still be valid at the last one's inspect
};

// A seeded generator (mulberry32), so that a failing run can be repeated with its seed.
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function sqlite(dbPath, sql) {
  const { stdout } = await execFileP('sqlite3', ['-batch', '-noheader', '-separator', '|', '-cmd', '.timeout 10000', dbPath, sql], {
    maxBuffer: 256 * 1024 * 1024,
    timeout: 60_000,
  });
  return stdout.split('\n').filter(Boolean);
}

async function storedJtis(dbPath) {
  return new Set(await sqlite(dbPath, 'select jti from tokens'));
}

// id -> {revokedAt, endSessions}
async function storedKeys(dbPath) {
  const rows = await sqlite(dbPath, 'select id, revoked_at, end_sessions from api_keys');
  return new Map(
    rows.map((line) => {
      const [id, revokedAt, endSessions] = line.split('|');
      return [id, { revokedAt: revokedAt === '' ? null : Number(revokedAt), endSessions: endSessions === '1' }];
    }),
  );
}

// `bouncer keys create` → {id, secret}.
async function createKeyWithId(dataDir, name) {
  const r = await runCli(['keys', 'create', '--name', name, '--data-dir', dataDir]);
  assert.equal(r.code, 0, `keys create ${name}:\n${r.stderr}`);
  const id = /Created key (key_[0-9a-f]+)/.exec(r.stderr)?.[1];
  assert.ok(id, `keys create printed no key id:\n${r.stderr}`);
  return { id, secret: r.stdout.trim() };
}

// A log line at warn or error level (text format: "<time> <level> <event> …").
const TROUBLE_RE = /^\S+ (warn|error) .*$/m;

function assertCleanStart(server, cycle) {
  assert.doesNotMatch(server.stdout, /sk_/, `cycle ${cycle}: the restart created a new default key`);
  const trouble = TROUBLE_RE.exec(server.stderr);
  assert.equal(trouble, null, `cycle ${cycle}: the restart logged trouble: ${trouble?.[0]}\n${server.logs()}`);
}

// Runs `cycles` kill -9 cycles; resolves {seed, figures (one object per cycle), mints,
// revocations}. Throws (an assertion error naming the cycle and the seed) at the first cycle
// that loses anything or does not restart cleanly. `log(line)` gets one line per cycle.
// `dataDir`: use it (and leave it); default a temp dir, removed at the end. The other options
// override DEFAULTS.
export async function runKillCycles({ cycles, seed = Date.now() >>> 0, log = console.log, dataDir, serverArgs = [], ...rest } = {}) {
  requireTool('sqlite3');
  const o = { ...DEFAULTS, ...rest };
  const random = seededRandom(seed);
  const port = await freePort();
  const servers = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.workers });
  const answered = []; // every mint answered 200, all cycles: {jti, apiKey, n, cycle}
  const revoked = []; // every revocation acknowledged, all cycles: {id, secret, endSessions, by, cycle}
  const figures = [];
  let n = 0; // metadata of each mint: its number, across cycles

  const start = async (dir) => {
    const s = await startServer({ dataDir: dir, port, args: serverArgs });
    servers.push(s);
    return s;
  };

  try {
    let server = await start(dataDir);
    const sk = await server.defaultKey();
    let nextKey = createKeyWithId(server.dataDir, 'c1');
    nextKey.catch(() => {}); // awaited below; this only keeps an early failure from being 'unhandled'
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const key = await nextKey;
      const by = cycle % 2 ? 'api' : 'cli';
      const f = await oneCycle({ cycle, server, sk, key, by, o, random, agent, answered, revoked, nextN: () => n++ });
      const restartStarted = performance.now();
      // The next cycle's key is made while the server restarts (the CLI and the server open
      // the file at the same time, as they may).
      if (cycle < cycles) {
        nextKey = createKeyWithId(server.dataDir, `c${cycle + 1}`);
        nextKey.catch(() => {});
      }
      const restarted = await start(server.dataDir);
      f.restartMs = Math.round(performance.now() - restartStarted);
      assertCleanStart(restarted, cycle);
      const inspect = cycle === 1 || cycle === cycles; // the file is checked every cycle; the CLI's view now and then
      await checkEverythingSurvived({ cycle, server: restarted, sk, answered, revoked, random, port, inspect });
      figures.push(f);
      log(
        `kill cycle ${cycle}/${cycles}: ${f.answered} mints answered 200 in ${(f.loadMs / 1000).toFixed(1)} s ` +
          `(${f.late} after the kill), ${f.inFlightAtKill} in flight at kill -9, ${f.cutOff} cut off; ` +
          `revocation by ${by}${f.endSessions ? ' with end-sessions' : ''} ${f.revocationAcked ? 'acknowledged' : 'cut off by the kill'}; ` +
          `restart ${f.restartMs} ms; all ${answered.length} mints and ${revoked.length} revocations so far present`,
      );
      server = restarted;
    }
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `clean shutdown after the last recovery:\n${server.logs()}`);
    return { seed, figures, mints: answered.length, revocations: revoked.length };
  } catch (e) {
    e.message = `[kill cycles, seed ${seed}] ${e.message}`;
    throw e;
  } finally {
    agent.destroy();
    for (const s of [...servers].reverse()) await s.stop();
    if (servers[0]?.tempRoot) rmSync(servers[0].tempRoot, { recursive: true, force: true });
  }
}

// fn() as a promise that never rejects (it is awaited only after the kill): {ack} or {error}.
function settle(fn) {
  return fn().then(
    (ack) => ({ ack }),
    (error) => ({ error }),
  );
}

async function oneCycle({ cycle, server, sk, key, by, o, random, agent, answered, revoked, nextN }) {
  // A key to revoke while the mints run, in turn revoking itself over HTTP (acknowledged by the
  // server about to be killed) and revoked by the CLI (its own process, writing to the same
  // file while the server's writer is busy, and then killed).
  if (by === 'api') {
    // The server knows the new key after its next state poll.
    await waitFor(async () => (await mint(server.base, key.secret, { expiresIn: o.expiresIn })).status === 200, {
      timeoutMs: 10_000,
      what: `cycle ${cycle}: the server to know the new key`,
    });
  }

  const thisCycle = [];
  const otherStatuses = {};
  let cutOff = 0;
  let inFlight = 0;
  let stopping = false;

  async function worker() {
    while (!stopping) {
      const n = nextN();
      inFlight++;
      try {
        const r = await mint(server.base, sk, { expiresIn: o.expiresIn, metadata: { n } }, { agent, timeoutMs: 15_000 });
        if (r.status === 200) {
          thisCycle.push({ jti: decodeJwt(r.json.token).payload.jti, apiKey: r.json.apiKey, n, cycle });
        } else {
          otherStatuses[r.status] = (otherStatuses[r.status] ?? 0) + 1;
        }
      } catch {
        cutOff++; // connection reset by the kill
      } finally {
        inFlight--;
      }
    }
  }

  const plannedMs = o.minLoadMs + random() * (o.maxLoadMs - o.minLoadMs);
  const endSessions = random() < 0.5;
  // Early enough to be acknowledged most times, late enough to be in flight at the kill sometimes.
  const revokeDelay = plannedMs * (0.1 + 0.6 * random());

  const started = performance.now();
  const workers = Array.from({ length: o.workers }, worker);
  // Resolves {ack} (acknowledged: it must survive), {ack: null} (cut off by the kill: nothing
  // was promised) or {error} (a wrong answer before the kill).
  const revocation = settle(async () => {
    await sleep(revokeDelay);
    if (by === 'cli') {
      const r = await runCli(['keys', 'revoke', key.id, '--data-dir', server.dataDir, ...(endSessions ? ['--end-sessions'] : [])]);
      assert.equal(r.code, 0, `cycle ${cycle}: keys revoke:\n${r.stderr}`);
    } else {
      let r;
      try {
        r = await request(server.base, {
          method: 'POST',
          path: '/v1/keys/self/revoke',
          headers: { 'X-API-KEY': key.secret },
          body: { endSessions },
          timeoutMs: 15_000,
        });
      } catch {
        return null;
      }
      assert.equal(r.status, 200, `cycle ${cycle}: self-revoke answered ${r.status} ${r.text}`);
    }
    return { id: key.id, secret: key.secret, endSessions, by, cycle };
  });

  for (;;) {
    const elapsed = performance.now() - started;
    if ((elapsed >= plannedMs && thisCycle.length >= o.wantAnswered) || elapsed >= o.capLoadMs) break;
    if (server.exit) break;
    await sleep(10);
  }
  assert.equal(server.exit, null, `cycle ${cycle}: the server died under load:\n${server.logs()}`);
  const inFlightAtKill = inFlight;
  const answeredAtKill = thisCycle.length;
  stopping = true; // no new requests; those in flight stay in flight
  await server.kill9();
  await Promise.all(workers);
  const loadMs = performance.now() - started;
  const { ack, error } = await revocation;
  if (error) throw error;

  assert.deepEqual(otherStatuses, {}, `cycle ${cycle}: under load every answer was 200 until the kill`);
  assert.ok(inFlightAtKill > 0, `cycle ${cycle}: requests were in flight when the server was killed`);
  assert.ok(thisCycle.length >= o.floor, `cycle ${cycle}: only ${thisCycle.length} mints answered: too few for the cycle to mean much`);
  answered.push(...thisCycle);
  if (ack) revoked.push(ack);
  return {
    cycle,
    answered: thisCycle.length,
    late: thisCycle.length - answeredAtKill, // answers that were on the wire at the kill
    inFlightAtKill,
    cutOff,
    loadMs: Math.round(loadMs),
    revocationBy: by,
    endSessions,
    revocationAcked: Boolean(ack),
  };
}

async function checkEverythingSurvived({ cycle, server, sk, answered, revoked, random, port, inspect }) {
  const again = await mint(server.base, sk, {});
  assert.equal(again.status, 200, `cycle ${cycle}: the default key survived: ${again.text}`);

  // Every answered jti of every cycle so far, directly in the SQLite file.
  const stored = await storedJtis(server.dbPath);
  assert.equal(new Set(answered.map((a) => a.jti)).size, answered.length, 'jti values are unique');
  const missing = answered.filter((a) => !stored.has(a.jti));
  assert.equal(
    missing.length,
    0,
    `cycle ${cycle}: ${missing.length} of ${answered.length} answered mints have no record after kill -9, e.g. ${missing
      .slice(0, 5)
      .map((m) => `${m.jti} (n=${m.n}, cycle ${m.cycle})`)
      .join(', ')}`,
  );

  // Every acknowledged revocation, in the file and as the restarted server applies it.
  const keys = await storedKeys(server.dbPath);
  for (const r of revoked) {
    const k = keys.get(r.id);
    assert.ok(k?.revokedAt, `cycle ${cycle}: the revocation of ${r.id} (by ${r.by}, cycle ${r.cycle}) was acknowledged but is lost`);
    if (r.endSessions) assert.ok(k.endSessions, `cycle ${cycle}: ${r.id} lost its end_sessions flag (by ${r.by}, cycle ${r.cycle})`);
  }
  for (const r of revoked.filter((x) => x.cycle === cycle)) {
    const m = await mint(server.base, r.secret, {});
    assert.equal(m.status, 403, `cycle ${cycle}: a key revoked by ${r.by} mints after the restart: ${m.status} ${m.text}`);
    assert.equal(m.json?.error?.code, 'api_key_revoked');
  }

  // One of this cycle's answers through the CLI: the record holds that mint's metadata.
  if (!inspect) return;
  const mine = answered.filter((a) => a.cycle === cycle);
  const { apiKey, n, jti } = mine[Math.floor(random() * mine.length)];
  const r = await runCli(['tokens', 'inspect', apiKey, '--data-dir', server.dataDir, '--listen', `127.0.0.1:${port}`]);
  assert.equal(r.code, 0, `cycle ${cycle}: inspect of jti ${jti}:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^verdict: valid\b/m);
  const line = r.stdout.split('\n').find((l) => l.startsWith('metadata:'));
  assert.ok(line, `cycle ${cycle}: no token record for jti ${jti}:\n${r.stdout}`);
  assert.deepEqual(JSON.parse(line.slice('metadata:'.length)), { n }, "the record holds this mint's metadata");
}
