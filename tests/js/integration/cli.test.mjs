// The command line (docs/OPERATIONS.md): first start, keys, revocation reaching a running server,
// tokens inspect, signing-key file permissions, configuration precedence, help, shutdown.
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';

import {
  SK_RE,
  createKey,
  decodeJwt,
  freePort,
  listKeys,
  mint,
  runCli,
  sleep,
  startServer,
  tempDir,
  waitFor,
  withTimeout,
  writeToml,
} from '../lib/harness.mjs';

const inspect = (server, credential, extra = []) =>
  runCli(['tokens', 'inspect', credential, '--data-dir', server.dataDir, '--listen', `127.0.0.1:${server.port}`, ...extra]);

function verdict(stdout) {
  return stdout.split('\n').find((l) => l.startsWith('verdict:')) ?? '(no verdict line)';
}

test('first start prints the default key once; a second start prints none', { timeout: 120_000 }, async (t) => {
  const first = await startServer({ t });
  const key = await first.defaultKey();
  assert.deepEqual([...new Set(first.stdout.match(new RegExp(SK_RE.source, 'g')))], [key], 'exactly one secret in the banner');
  assert.ok(first.stdout.includes(`${first.base}/v1/client/tokens`), `the banner has a curl line for this server:\n${first.stdout}`);
  const res = await mint(first.base, key, {});
  assert.equal(res.status, 200, res.text);
  const keys = await listKeys(first.dataDir);
  assert.deepEqual(keys.map((k) => k.name), ['default']);

  const stopped = await first.stop();
  assert.equal(stopped.code, 0, first.logs());
  assert.ok(!SK_RE.test(first.stderr), 'the secret is not in the log');

  const second = await startServer({ t, dataDir: first.dataDir });
  const res2 = await mint(second.base, key, {});
  assert.equal(res2.status, 200, 'the default key survives a restart');
  await second.stop();
  assert.doesNotMatch(second.stdout, SK_RE, `a second start printed a key:\n${second.stdout}`);
  assert.deepEqual((await listKeys(first.dataDir)).map((k) => k.name), ['default'], 'no second default key');
});

test('keys create prints only the secret; keys list never shows one', { timeout: 120_000 }, async (t) => {
  const dir = path.join(tempDir(), 'data');
  t.after(() => rmSync(path.dirname(dir), { recursive: true, force: true }));

  const created = await runCli(['keys', 'create', '--name', 'ci-backend', '--data-dir', dir]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^sk_[A-Za-z0-9_-]{43}\n$/, `stdout is the secret alone: ${JSON.stringify(created.stdout)}`);
  const secret = created.stdout.trim();
  assert.ok(!created.stderr.includes(secret), 'the secret is printed once');
  const second = await createKey(dir, 'mobile app');
  assert.notEqual(second, secret);

  const text = await runCli(['keys', 'list', '--data-dir', dir]);
  assert.equal(text.code, 0, text.stderr);
  const json = await runCli(['keys', 'list', '--json', '--data-dir', dir]);
  assert.equal(json.code, 0, json.stderr);
  for (const out of [text.stdout + text.stderr, json.stdout + json.stderr]) {
    assert.ok(!out.includes(secret) && !out.includes(second), `keys list shows a secret:\n${out}`);
    assert.doesNotMatch(out, SK_RE);
    // Nor a long enough piece of it to matter: the displayed prefix is short.
    assert.ok(!out.includes(secret.slice(0, 20)), 'no more than a short prefix of a secret');
  }
  const keys = JSON.parse(json.stdout);
  assert.deepEqual(keys.map((k) => k.name).sort(), ['ci-backend', 'mobile app']);
  for (const k of keys) {
    assert.match(k.id, /^\S+$/);
    assert.ok(!Number.isNaN(Date.parse(k.createdAt)));
    assert.equal(k.revokedAt, null);
    // One key per line, its id first.
    const line = text.stdout.split('\n').find((l) => l.startsWith(`${k.id} `));
    assert.ok(line, `keys list has a line starting with ${k.id}:\n${text.stdout}`);
  }
});

test('keys revoke reaches the running server within 1 s; inspect says revoked', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  await server.defaultKey();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());

  // A key created by the CLI reaches the running server too.
  const secret = await createKey(server.dataDir, 'doomed');
  const token = await waitFor(
    async () => {
      const r = await mint(server.base, secret, { expiresIn: 600 }, { agent });
      return r.status === 200 ? r.json.apiKey : null;
    },
    { timeoutMs: 10_000, what: 'the new key to be accepted by the running server' },
  );
  const before = await inspect(server, token);
  assert.equal(before.code, 0, before.stdout + before.stderr);

  const id = (await listKeys(server.dataDir)).find((k) => k.name === 'doomed').id;

  // Poll minting every 50 ms from the moment `keys revoke` starts until the first refusal;
  // the bound is measured from the moment the CLI exited (the revocation is committed by then).
  const startedAt = performance.now();
  let cli;
  const revoking = runCli(['keys', 'revoke', id, '--data-dir', server.dataDir]).then((r) => (cli = r));
  let first403;
  let polls = 0;
  for (;;) {
    const sent = performance.now();
    const r = await mint(server.base, secret, {}, { agent });
    polls++;
    if (r.status === 403) {
      first403 = { at: performance.now(), res: r };
      break;
    }
    assert.equal(r.status, 200, r.text);
    assert.ok(!cli || cli.code === 0, `keys revoke failed: ${cli?.stderr}`);
    assert.ok(!cli || performance.now() - cli.endedAt < 5000, 'the revoked key was still minting 5 s after keys revoke exited');
    assert.ok(performance.now() - startedAt < 60_000, 'keys revoke has not finished in 60 s');
    await sleep(Math.max(0, 50 - (performance.now() - sent)));
  }
  await revoking;
  assert.equal(cli.code, 0, cli.stderr);
  const afterExit = first403.at - cli.endedAt;
  console.log(
    `revocation propagation: first 403 ${afterExit.toFixed(0)} ms after keys revoke exited ` +
      `(${(first403.at - startedAt).toFixed(0)} ms after it was started; the CLI ran ${(cli.endedAt - startedAt).toFixed(0)} ms; ` +
      `${polls} polls)`,
  );
  assert.equal(first403.res.json.error.code, 'api_key_revoked');
  assert.ok(afterExit < 1000, `the first 403 came ${afterExit.toFixed(0)} ms after the CLI returned (bound: 1000 ms)`);

  // Tokens minted from it are refused by inspect, naming the reason.
  const after = await inspect(server, token);
  assert.equal(after.code, 1, after.stdout + after.stderr);
  assert.match(verdict(after.stdout), /^verdict: refused\b.*revoked/i);

  const listed = (await listKeys(server.dataDir)).find((k) => k.id === id);
  assert.ok(listed.revokedAt && !Number.isNaN(Date.parse(listed.revokedAt)), 'keys list shows the revocation time');

  const unknown = await runCli(['keys', 'revoke', 'key_does_not_exist', '--data-dir', server.dataDir]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /no key/i);
});

test('tokens inspect: valid, tampered, garbage', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();
  const res = await mint(server.base, sk, { expiresIn: 600, allowedModels: ['echo'] });
  assert.equal(res.status, 200, res.text);

  for (const credential of [res.json.apiKey, res.json.token]) {
    const r = await inspect(server, credential);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(verdict(r.stdout), /^verdict: valid\b/);
  }

  const [h, p, s] = res.json.token.split('.');
  const payload = decodeJwt(res.json.token).payload;
  const tampered = [
    // a claim changed, signature kept
    `ek_${h}.${Buffer.from(JSON.stringify({ ...payload, models: ['demo'] })).toString('base64url')}.${s}`,
    // the signature changed (first byte: no base64url padding-bit ambiguity)
    `ek_${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`,
    // no signature at all
    `ek_${h}.${p}.`,
  ];
  for (const credential of tampered) {
    const r = await inspect(server, credential);
    assert.equal(r.code, 1, `tampered token accepted:\n${r.stdout}${r.stderr}`);
    assert.match(verdict(r.stdout), /^verdict: refused\b/);
  }

  const garbage = await inspect(server, 'not-a-credential');
  assert.equal(garbage.code, 1);
  assert.match(verdict(garbage.stdout), /^verdict: refused\b/);

  // Another issuer (the server's public URL is not this one) is refused.
  const wrongIssuer = await runCli(['tokens', 'inspect', res.json.apiKey, '--data-dir', server.dataDir, '--listen', '127.0.0.1:1']);
  assert.equal(wrongIssuer.code, 1, wrongIssuer.stdout);
  assert.match(verdict(wrongIssuer.stdout), /^verdict: refused\b/);

  // An sk_ key: valid while not revoked.
  const skr = await inspect(server, sk);
  assert.equal(skr.code, 0, skr.stdout);
  assert.match(verdict(skr.stdout), /^verdict: valid\b/);
  assert.ok(!skr.stdout.includes(sk.slice(3)), 'inspect does not echo the secret');
});

test('tokens inspect: an expired token is refused as expired', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t, args: ['--leeway-seconds', '0'] });
  const sk = await server.defaultKey();
  const res = await mint(server.base, sk, { expiresIn: 1 });
  assert.equal(res.status, 200, res.text);
  const { exp } = decodeJwt(res.json.token).payload;
  // Expiry is a matter of time: wait until a whole second past exp (~2 s).
  const waitMs = (exp + 1) * 1000 + 200 - Date.now();
  if (waitMs > 0) await sleep(waitMs);
  const r = await inspect(server, res.json.apiKey, ['--leeway-seconds', '0']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(verdict(r.stdout), /^verdict: refused\b.*expired/i);
});

test('a signing key file readable by others: the server refuses to start', { timeout: 120_000 }, async (t) => {
  const first = await startServer({ t });
  await first.stop();
  const keyDir = path.join(first.dataDir, 'signing-keys');
  const files = readdirSync(keyDir).filter((f) => f.endsWith('.key'));
  assert.ok(files.length >= 1, `no .key file in ${keyDir}`);
  for (const f of files) chmodSync(path.join(keyDir, f), 0o644);

  const second = await startServer({ t, dataDir: first.dataDir, wait: false });
  const exit = await withTimeout(second.exited, 30_000, `the server's exit (it should refuse to start)`);
  assert.notEqual(exit.code, 0, second.logs());
  assert.match(second.stderr, /readable by others/, second.logs());
  assert.doesNotMatch(second.stderr, /listening/, 'it never listened');
});

test('configuration precedence: flag beats BOUNCER_LISTEN beats the file', { timeout: 180_000 }, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [a, b, c] = [await freePort(), await freePort(), await freePort()];
  assert.equal(new Set([a, b, c]).size, 3);
  const file = writeToml(dir, `# test config\nlisten = "127.0.0.1:${a}"\nlog_level = "info"\n`);
  const dataDir = path.join(dir, 'data');

  const cases = [
    ['flag', ['--config', file, '--listen', `127.0.0.1:${c}`], { BOUNCER_LISTEN: `127.0.0.1:${b}` }, c],
    ['environment', ['--config', file], { BOUNCER_LISTEN: `127.0.0.1:${b}` }, b],
    ['file', ['--config', file], {}, a],
    ['file named by BOUNCER_CONFIG', [], { BOUNCER_CONFIG: file }, a],
  ];
  const portName = { [a]: 'A (file)', [b]: 'B (environment)', [c]: 'C (flag)' };
  for (const [name, args, env, expected] of cases) {
    await t.test(`${name} → port ${portName[expected]}`, async (st) => {
      const server = await startServer({ t: st, dataDir, listen: false, args, env });
      assert.equal(
        server.port,
        expected,
        `${name}: listening on ${portName[server.port] ?? server.port}, expected ${portName[expected]}\n${server.logs()}`,
      );
      const stopped = await server.stop();
      assert.equal(stopped.code, 0, server.logs());
    });
  }
});

test('a bad configuration file: exits non-zero with a clear message', { timeout: 120_000 }, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases = [
    ['unknown key', 'lisen = "127.0.0.1:0"\n', /unknown setting 'lisen'/],
    ['wrong type', 'mint_rate_per_key = "fast"\n', /mint_rate_per_key.*wrong type/],
    ['not TOML', 'listen = \n', /line 1/],
  ];
  for (const [name, text, re] of cases) {
    const file = writeToml(dir, text, `${name.replace(/\W/g, '_')}.toml`);
    const r = await runCli(['serve', '--config', file, '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data')], {
      timeoutMs: 20_000,
    });
    assert.notEqual(r.code, 0, `${name}: exit code ${r.code}`);
    assert.match(r.stderr, re, `${name}: ${r.stderr}`);
    assert.ok(r.stderr.includes(file), `${name}: the message names the file: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /listening/);
  }
});

test('serve --help mentions every option and its BOUNCER_ variable', { timeout: 60_000 }, async () => {
  const r = await runCli(['serve', '--help']);
  assert.equal(r.code, 0, r.stderr);
  const help = r.stdout;
  const expected = [
    'listen',
    'data-dir',
    'public-url',
    'store',
    'config',
    'log-format',
    'log-level',
    'threads',
    'leeway-seconds',
    'mint-rate-per-key',
    'mint-burst',
    'max-body-bytes',
    'max-header-bytes',
    'max-connections',
  ];
  const flags = new Set([...help.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]));
  flags.delete('help');
  for (const name of new Set([...expected, ...flags])) {
    const env = `BOUNCER_${name.toUpperCase().replace(/-/g, '_')}`;
    assert.ok(help.includes(`--${name}`), `--${name} is not in serve --help`);
    assert.ok(help.includes(env), `${env} (for --${name}) is not in serve --help`);
  }

  const top = await runCli(['--help']);
  assert.equal(top.code, 0, top.stderr);
  for (const sub of ['serve', 'keys', 'tokens', 'signing-keys']) assert.match(top.stdout, new RegExp(`\\b${sub}\\b`));
});

test('SIGTERM: exits 0 within a few seconds and logs "stopped"', { timeout: 60_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();
  assert.equal((await mint(server.base, sk, {})).status, 200);
  const t0 = performance.now();
  const exit = await server.stop({ signal: 'SIGTERM', timeoutMs: 10_000 });
  const ms = performance.now() - t0;
  assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM: ${JSON.stringify(exit)}\n${server.logs()}`);
  assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
  assert.match(server.stderr, /\bstopped\b/, server.logs());
});
