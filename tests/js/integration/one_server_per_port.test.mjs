// One server per port: a second `bouncer serve` on a port where another process listens must
// refuse to start, naming the port, instead of joining the first one's SO_REUSEPORT group and
// taking half its connections (with another data dir, its clients would meet random 401s).
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { test } from 'node:test';

import { mint, runCli, startServer, tempDir } from '../lib/harness.mjs';

const MINTS = 40;

test('a second serve on a busy port exits non-zero naming the port; the first keeps all traffic', { timeout: 120_000 }, async (t) => {
  // Several threads: the first server's own acceptors still share the port among themselves.
  const first = await startServer({ t, args: ['--threads', '2'] });
  const sk = await first.defaultKey();

  const otherDir = tempDir('bouncer-second-');
  t.after(() => rmSync(otherDir, { recursive: true, force: true }));
  const second = await runCli(['serve', '--data-dir', path.join(otherDir, 'data'), '--listen', `127.0.0.1:${first.port}`]);
  assert.notEqual(second.code, 0, `the second server ran:\n${second.stderr}`);
  assert.match(second.stderr, new RegExp(`port ${first.port} is already in use by another process`));
  assert.match(second.stderr, new RegExp(`127\\.0\\.0\\.1:${first.port}`));

  // Every connection reaches the first server: its key works on each of them (a second
  // server with another data dir would answer 401).
  for (let i = 0; i < MINTS; i++) {
    const res = await mint(first.base, sk, { allowedModels: ['echo'] });
    assert.equal(res.status, 200, `mint #${i + 1}: ${res.text}`);
  }
  assert.equal(first.exit, null, 'the first server is still running');
});

test('a port held by another program (not bouncer) is refused too', { timeout: 60_000 }, async (t) => {
  const other = net.createServer();
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => other.close(resolve)));
  const { port } = other.address();
  const dataDir = tempDir('bouncer-busy-');
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const r = await runCli(['serve', '--data-dir', path.join(dataDir, 'data'), '--listen', `127.0.0.1:${port}`]);
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`port ${port} is already in use by another process`));
});
