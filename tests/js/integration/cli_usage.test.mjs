// The command line as a newcomer meets it: --version, a mistyped sub-command, the ranges in
// --help and in messages, a host name where an address belongs, a CA file that is not there,
// and a first start that fails (the error is the last word, and the first key is not lost).
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';

import { REPO_ROOT, SK_RE, listKeys, mint, runCli, startServer, tempDir, writeToml } from '../lib/harness.mjs';

// The project's version, as CMakeLists.txt declares it.
const VERSION = readFileSync(path.join(REPO_ROOT, 'CMakeLists.txt'), 'utf8').match(/project\(bouncer VERSION (\S+)/)[1];

test('bouncer --version prints the version', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `bouncer ${VERSION}\n`);
});

test('a mistyped sub-command names the one meant and lists them', async () => {
  const top = await runCli(['serv', '--listen', '127.0.0.1:0']);
  assert.notEqual(top.code, 0);
  assert.match(top.stderr, /'serv' is not a command of bouncer\. Did you mean 'serve'\?/, top.stderr);
  for (const sub of ['serve', 'keys', 'tokens', 'signing-keys']) assert.match(top.stderr, new RegExp(`\\n  ${sub} `), top.stderr);
  assert.doesNotMatch(top.stderr, /listening/);

  const nested = await runCli(['keys', 'lsit']);
  assert.notEqual(nested.code, 0);
  assert.match(nested.stderr, /Did you mean 'list'\?/, nested.stderr);
  for (const sub of ['create', 'list', 'revoke']) assert.match(nested.stderr, new RegExp(`\\n  ${sub} `), nested.stderr);
});

test('serve --help shows the range of every numeric option', async () => {
  const r = await runCli(['serve', '--help']);
  assert.equal(r.code, 0, r.stderr);
  const expected = {
    threads: '≥ 0',
    'leeway-seconds': 'between 0 and 600',
    'mint-rate-per-key': '≥ 0',
    'mint-burst': '≥ 0',
    'max-body-bytes': 'between 1024 and 16777216',
    'max-header-bytes': 'between 1024 and 1048576',
    'max-connections': '≥ 1',
    'max-sessions-per-key': '≥ 0',
    'max-message-bytes': 'between 1024 and 67108864',
    'session-idle-timeout-seconds': 'between 5 and 3600',
    'upstream-connect-timeout-seconds': 'between 1 and 120',
    'store-staleness-seconds': 'between 1 and 3600',
    'session-lease-seconds': 'between 3 and 600',
  };
  // One entry per option: its flag line and its text, which may wrap onto the next lines.
  const entries = r.stdout.split(/\n(?=\s+-)/);
  const entryOf = (flag) => entries.find((e) => e.trimStart().startsWith(`--${flag} `));
  for (const [flag, range] of Object.entries(expected)) {
    const entry = entryOf(flag);
    assert.ok(entry, `--${flag} is not in serve --help`);
    assert.ok(entry.includes(`[${range}]`), `--${flag} does not show its range "${range}": ${entry}`);
  }
  // Every option that takes a number shows a range, including ones added later.
  for (const entry of entries.filter((e) => /^\s+--\S+ (U?INT|FLOAT)\b/.test(e))) {
    assert.match(entry, /\[(between \S+ and \S+|≥ \S+)\]/, `no range shown: ${entry}`);
  }
});

test('--threads -1 says it must be ≥ 0', async () => {
  const dir = tempDir();
  try {
    for (const [args, env] of [
      [['serve', '--threads', '-1'], {}],
      [['serve'], { BOUNCER_THREADS: '-1' }],
    ]) {
      const r = await runCli([...args, '--data-dir', path.join(dir, 'data')], { env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /--threads: must be ≥ 0, got -1/, r.stderr);
      assert.doesNotMatch(r.stderr, /\d{20}/, `a huge number in: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a host name in --listen says an IP address is needed', async () => {
  const dir = tempDir();
  try {
    const r = await runCli(['serve', '--listen', 'localhost:8080', '--data-dir', path.join(dir, 'data')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--listen needs an IP address, not a host name: got 'localhost'/, r.stderr);
    assert.match(r.stderr, /127\.0\.0\.1/, 'it says what to write instead');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a CA file that cannot be read names the model and the path", async () => {
  const dir = tempDir();
  try {
    const ca = path.join(dir, 'missing', 'private-ca.pem');
    const file = writeToml(dir, `[models.private-llm]\nupstream = "wss://127.0.0.1:9443/v1"\nca_file = "${ca}"\n`);
    const r = await runCli(['serve', '--config', file, '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /models\.private-llm/, r.stderr);
    assert.ok(r.stderr.includes(ca), `the path is not named: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /listening/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A port held by another program (no SO_REUSEPORT): the start fails after the data directory
// and the signing key exist.
function holdPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

test('a first start that fails: the error comes last and the first key is shown by the next start', { timeout: 120_000 }, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  const holder = await holdPort();
  const port = holder.address().port;

  const failed = await runCli(['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir]);
  holder.close();
  assert.notEqual(failed.code, 0, `started on a busy port:\n${failed.stderr}`);
  const error = failed.stderr.indexOf('error: ');
  assert.ok(error >= 0, `no error line:\n${failed.stderr}`);
  assert.ok(failed.stderr.includes(String(port)), `the error does not name the port:\n${failed.stderr}`);
  const stopped = failed.stderr.search(/\bstopped\b/);
  assert.ok(stopped === -1 || stopped > error, `"stopped" logged before the error:\n${failed.stderr}`);
  assert.doesNotMatch(failed.stdout, SK_RE, 'a key was shown by a server that never ran');
  assert.deepEqual(await listKeys(dataDir), [], 'a key was made that nobody was shown');

  // The next start on the same data directory shows the first key, and it works.
  const server = await startServer({ t, dataDir });
  const key = await server.defaultKey();
  const res = await mint(server.base, key, {});
  assert.equal(res.status, 200, res.text);
  assert.deepEqual((await listKeys(dataDir)).map((k) => k.name), ['default']);
});
