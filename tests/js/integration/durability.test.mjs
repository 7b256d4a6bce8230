// DESIGN §5: acknowledged means durable. Mint under load, kill -9 the server while requests
// are in flight, restart it on the same data dir, and find a token record for EVERY mint that
// was answered 200.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { decodeJwt, freePort, mint, requireTool, runCli, startServer } from '../lib/harness.mjs';

const execFileP = promisify(execFile);

const WORKERS = 16;
const MIN_LOAD_MS = 3000; // load for at least this long...
const WANT_ANSWERED = 400; // ...and until this many were answered,
const MAX_LOAD_MS = 20_000; // but never longer than this.
const FLOOR = 200; // fewer answered mints than this and the test proves too little

async function sqliteJtis(dbPath) {
  const { stdout } = await execFileP('sqlite3', ['-batch', '-noheader', '-cmd', '.timeout 10000', dbPath, 'select jti from tokens'], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  return new Set(stdout.split('\n').filter(Boolean));
}

test('every mint answered 200 survives kill -9 of the server', { timeout: 240_000 }, async (t) => {
  requireTool('sqlite3');
  const port = await freePort();
  const server = await startServer({ t, port });
  const sk = await server.defaultKey();
  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
  t.after(() => agent.destroy());

  const answered = []; // in the order the answers arrived: {jti, apiKey, n}
  const otherStatuses = {};
  let failures = 0;
  let inFlight = 0;
  let seq = 0;
  let stopping = false;

  async function worker() {
    while (!stopping) {
      const n = seq++;
      inFlight++;
      try {
        const r = await mint(server.base, sk, { expiresIn: 900, metadata: { n } }, { agent, timeoutMs: 15_000 });
        if (r.status === 200) {
          answered.push({ jti: decodeJwt(r.json.token).payload.jti, apiKey: r.json.apiKey, n });
        } else {
          otherStatuses[r.status] = (otherStatuses[r.status] ?? 0) + 1;
        }
      } catch {
        failures++; // connection reset by the kill
      } finally {
        inFlight--;
      }
    }
  }

  const started = performance.now();
  const workers = Array.from({ length: WORKERS }, worker);
  // Wait for the load to have run long enough, checking every 20 ms.
  for (;;) {
    const elapsed = performance.now() - started;
    if ((elapsed >= MIN_LOAD_MS && answered.length >= WANT_ANSWERED) || elapsed >= MAX_LOAD_MS) break;
    if (server.exit) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(server.exit, null, `the server died under load:\n${server.logs()}`);
  const inFlightAtKill = inFlight;
  const answeredAtKill = answered.length;
  stopping = true; // no new requests; those in flight stay in flight
  await server.kill9();
  await Promise.all(workers);
  const loadMs = performance.now() - started;
  const late = answered.length - answeredAtKill; // answers that were on the wire at the kill

  console.log(
    `durability: ${answered.length} mints answered 200 in ${(loadMs / 1000).toFixed(1)} s by ${WORKERS} clients ` +
      `(${late} of them arriving after the kill), ${inFlightAtKill} in flight at kill -9, ${failures} cut off, ` +
      `other statuses ${JSON.stringify(otherStatuses)}`,
  );
  assert.deepEqual(otherStatuses, {}, 'under load every answer was 200 until the kill');
  assert.ok(inFlightAtKill > 0, 'requests were in flight when the server was killed');
  assert.ok(answered.length > FLOOR, `only ${answered.length} mints answered: too few for the test to mean much`);
  assert.equal(new Set(answered.map((a) => a.jti)).size, answered.length, 'jti values are unique');

  // Restart on the same data dir and port (the tokens' issuer is http://127.0.0.1:PORT).
  const restarted = await startServer({ t, dataDir: server.dataDir, port });
  assert.doesNotMatch(restarted.stdout, /sk_/, 'the restart does not create a new default key');
  const again = await mint(restarted.base, sk, {});
  assert.equal(again.status, 200, `the key survived: ${again.text}`);

  // ALL answered jtis, directly in the SQLite file.
  const stored = await sqliteJtis(restarted.dbPath);
  const missing = answered.filter((a) => !stored.has(a.jti));
  assert.equal(
    missing.length,
    0,
    `${missing.length} of ${answered.length} answered mints have no record after kill -9, e.g. ${missing
      .slice(0, 5)
      .map((m) => `${m.jti} (n=${m.n})`)
      .join(', ')}`,
  );

  // A sample through the CLI: the first and last answers, and a few from the middle.
  const picks = [0, answered.length - 1, ...[0.25, 0.5, 0.75].map((f) => Math.floor(answered.length * f))];
  for (const i of [...new Set(picks)]) {
    const { apiKey, n, jti } = answered[i];
    const r = await runCli(['tokens', 'inspect', apiKey, '--data-dir', restarted.dataDir, '--listen', `127.0.0.1:${port}`]);
    assert.equal(r.code, 0, `inspect of answer #${i} (jti ${jti}):\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^verdict: valid\b/m);
    const line = r.stdout.split('\n').find((l) => l.startsWith('metadata:'));
    assert.ok(line, `no token record for answer #${i} (jti ${jti}):\n${r.stdout}`);
    assert.deepEqual(JSON.parse(line.slice('metadata:'.length)), { n }, 'the record holds this mint\'s metadata');
  }

  const exit = await restarted.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, `clean shutdown after recovery:\n${restarted.logs()}`);
});
