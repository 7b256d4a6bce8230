// TLS on the public listener (--tls-cert / --tls-key): a root CA, an intermediate and server
// certificates made at test time with `openssl`; real clients that trust the root only (Node's
// https and tls, the `ws` client, headless Chromium on an https page) mint over https and open
// wss:// sessions on the same port. A SIGHUP reloads the certificate: live sessions go on with
// the old one, new connections get the new one, and a bad new pair is refused with the old one
// kept. Every startup error a certificate or key can cause is checked by its message.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';

import {
  decodeJwt,
  importDep,
  mint,
  mintUrl,
  rawRequest,
  runCli,
  startServer,
  tempDir,
  waitFor,
  withTimeout,
  writeToml,
} from '../lib/harness.mjs';
import { launchChromium } from '../lib/chromium.mjs';
import { Pki } from '../lib/pki.mjs';
import { WsSession } from '../lib/ws_session.mjs';

const { WebSocket } = await importDep('ws');

const DAY_MS = 86_400_000;

let dir;
let pki;
let leaf; // the certificate most tests serve

before(() => {
  dir = tempDir('bouncer-tls-');
  pki = new Pki(dir);
  leaf = pki.server('leaf');
});

after(() => rmSync(dir, { recursive: true, force: true }));

const tlsArgs = (cert) => ['--tls-cert', cert.chain, '--tls-key', cert.key];

function startTls(t, { cert = leaf, args = [], env = {} } = {}) {
  return startServer({ t, args: [...tlsArgs(cert), ...args], env, tls: { ca: pki.rootPem } });
}

const wssBase = (server) => `wss://127.0.0.1:${server.port}`;

// One TLS handshake with the server (the root CA trusted); resolves what was negotiated.
function handshake(port, options = {}) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.rootPem, ...options }, () => {
      const peer = socket.getPeerCertificate(true);
      const info = {
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
        cipher: socket.getCipher().name,
        serial: peer.serialNumber,
        issuer: peer.issuer?.CN,
        issuerSent: peer.issuerCertificate?.subject?.CN,
      };
      socket.end();
      resolve(info);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('the TLS handshake did not finish within 10 s')));
    socket.on('error', reject);
  });
}

function countOf(text, re) {
  return (text.match(new RegExp(re.source, 'g')) ?? []).length;
}

// "Dec  2 13:35:27 2026 GMT" (X509Certificate's form) → "2026-12-02T13:35:27Z" (the logs' form).
function rfc3339(x509Date) {
  return new Date(x509Date).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

test('over https and wss://: mint, sign wss:// URLs, and open the door on the same port', { timeout: 120_000 }, async (t) => {
  const server = await startTls(t);
  const sk = await server.defaultKey();
  const ca = pki.rootPem;

  await t.test('the first-start hint and the default public URL are https://', async () => {
    assert.ok(server.base.startsWith('https://'));
    await server.waitForOutput(/listening .*public_url=https:\/\/127\.0\.0\.1:\d+|"public_url":"https:/);
    assert.ok(server.stdout.includes(`curl -s -X POST ${server.base}/v1/client/tokens`), server.stdout);
  });

  await t.test('a token minted over https opens a wss:// session', async (tt) => {
    const res = await mint(server.base, sk, { allowedModels: ['echo'] }, { ca });
    assert.equal(res.status, 200, res.text);
    const { payload } = decodeJwt(res.json.token);
    assert.equal(payload.iss, server.base);
    assert.equal(payload.aud, server.base);
    const session = new WsSession(tt, WebSocket, `${wssBase(server)}/v1/stream?model=echo&api_key=${res.json.apiKey}`, { ca });
    await session.echo('hello over wss');
  });

  await t.test('a signed URL is wss:// and opens as it is', async (tt) => {
    const res = await mintUrl(server.base, sk, { model: 'echo' }, { ca });
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.url.startsWith(`${wssBase(server)}/v1/stream?model=echo&token=`), res.json.url);
    const session = new WsSession(tt, WebSocket, res.json.url, { ca });
    await session.echo('signed and sealed');
    session.ws.close(1000, 'done');
    assert.equal((await session.close()).code, 1000);
  });

  await t.test('a client that does not trust the CA is refused by its own TLS check', async () => {
    await assert.rejects(mint(server.base, sk, { allowedModels: ['echo'] }), /self-signed|unable to (get|verify)/);
  });
});

test('the TLS profile: 1.2 and 1.3 only, ECDHE + AEAD, ALPN http/1.1, the whole chain sent', { timeout: 120_000 }, async (t) => {
  const server = await startTls(t);

  await t.test('TLS 1.3 by default, with the intermediate sent (the client trusts the root only)', async () => {
    const info = await handshake(server.port);
    assert.equal(info.protocol, 'TLSv1.3');
    assert.equal(info.serial, leaf.serial);
    assert.equal(info.issuerSent, 'Bouncer Test Intermediate CA');
  });

  await t.test('TLS 1.2 with forward secrecy and an AEAD cipher', async () => {
    const info = await handshake(server.port, { maxVersion: 'TLSv1.2' });
    assert.equal(info.protocol, 'TLSv1.2');
    assert.match(info.cipher, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  });

  await t.test('TLS 1.2 without ECDHE or without AEAD: no shared cipher', async () => {
    for (const ciphers of ['AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES128-SHA']) {
      await assert.rejects(handshake(server.port, { maxVersion: 'TLSv1.2', ciphers }), /handshake failure|no cipher|alert/i, ciphers);
    }
  });

  await t.test('TLS 1.0 and 1.1 are refused', async () => {
    for (const version of ['TLSv1', 'TLSv1.1']) {
      await assert.rejects(
        // SECLEVEL=0: so that it is the server, not this client's OpenSSL, that says no.
        handshake(server.port, { minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' }),
        /protocol version|unsupported protocol|alert/i,
        version,
      );
    }
  });

  await t.test('ALPN: http/1.1 chosen among h2 and http/1.1; h2 alone gets the fatal alert', async () => {
    assert.equal((await handshake(server.port, { ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'http/1.1');
    await assert.rejects(handshake(server.port, { ALPNProtocols: ['h2'] }), /no application protocol|alert/i);
  });

  await t.test('plain HTTP on the TLS port gets no answer; failed handshakes are logged at info, throttled', async () => {
    const attempts = 5;
    for (let i = 0; i < attempts; i++) {
      const res = await rawRequest(server.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.ok(!(res.status >= 100), `an HTTP answer on the TLS port: ${res.raw}`);
    }
    await server.waitForOutput(/tls_handshake_failed/);
    const logged = countOf(server.stderr, /info tls_handshake_failed|"level":"info","event":"tls_handshake_failed"/);
    assert.ok(logged >= 1 && logged < attempts, `${logged} info lines for ${attempts} failures:\n${server.stderr}`);
  });
});

test('headless Chromium on an https page opens a wss:// session', { timeout: 180_000 }, async (t) => {
  const server = await startTls(t);
  const sk = await server.defaultKey();
  const minted = await mint(server.base, sk, { allowedModels: ['echo'] }, { ca: pki.rootPem });
  assert.equal(minted.status, 200, minted.text);

  // The page, over https with a certificate of the same test CA, on another origin.
  const pageServer = https.createServer(
    { cert: readFileSync(leaf.chain), key: readFileSync(leaf.key) },
    (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>bouncer tls test</title>');
    },
  );
  await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => { pageServer.closeAllConnections(); pageServer.close(resolve); }));
  const origin = `https://localhost:${pageServer.address().port}`;

  // Trust exactly the test key (both servers use it), not every certificate.
  const browser = await launchChromium([`--ignore-certificate-errors-spki-list=${leaf.spkiSha256}`]);
  t.after(() => browser.close().catch(() => {}));
  const context = await browser.newContext();
  const tab = await context.newPage();
  const res = await tab.goto(`${origin}/`, { timeout: 15_000 });
  assert.equal(res?.status(), 200);
  assert.equal(await tab.evaluate(() => location.protocol), 'https:');

  const url = `${wssBase(server)}/v1/stream?model=echo&api_key=${minted.json.apiKey}`;
  const events = await withTimeout(
    tab.evaluate(
      (wsUrl) =>
        new Promise((resolve) => {
          const seen = [];
          const ws = new WebSocket(wsUrl);
          const timer = setTimeout(() => resolve([...seen, { type: 'timeout' }]), 10_000);
          ws.onopen = () => {
            seen.push({ type: 'open' });
            ws.send('hello from an https page');
          };
          ws.onmessage = (e) => {
            seen.push({ type: 'message', data: e.data });
            ws.close(1000, 'done');
          };
          ws.onclose = (e) => {
            clearTimeout(timer);
            seen.push({ type: 'close', code: e.code });
            resolve(seen);
          };
        }),
      url,
    ),
    30_000,
    'the wss:// session in Chromium',
  );
  assert.deepEqual(events, [
    { type: 'open' },
    { type: 'message', data: 'hello from an https page' },
    { type: 'close', code: 1000 },
  ]);
});

test('SIGHUP reloads the certificate: live sessions go on, new connections get the new one', { timeout: 180_000 }, async (t) => {
  // The server reads these paths; the test swaps what they hold.
  const certFile = path.join(dir, 'live.chain.pem');
  const keyFile = path.join(dir, 'live.key');
  const install = (cert, key = cert.key) => {
    copyFileSync(cert.chain, certFile);
    copyFileSync(key, keyFile);
    chmodSync(keyFile, 0o600);
  };
  install(leaf);
  const server = await startServer({ t, args: ['--tls-cert', certFile, '--tls-key', keyFile], tls: { ca: pki.rootPem } });
  const sk = await server.defaultKey();
  const ca = pki.rootPem;
  assert.equal((await handshake(server.port)).serial, leaf.serial);

  const minted = await mint(server.base, sk, { allowedModels: ['echo'] }, { ca });
  assert.equal(minted.status, 200, minted.text);
  const streamUrl = `${wssBase(server)}/v1/stream?model=echo&api_key=${minted.json.apiKey}`;
  const live = new WsSession(t, WebSocket, streamUrl, { ca });
  await live.echo('before the reload');

  const renewed = pki.server('renewed'); // a new key too
  assert.notEqual(renewed.serial, leaf.serial);
  install(renewed);
  server.child.kill('SIGHUP');
  await waitFor(() => countOf(server.stderr, /reload_finished/) >= 1, { what: 'reload_finished', timeoutMs: 15_000 });
  assert.match(server.stderr, new RegExp(`tls_certificate_reloaded.*serial[=":]+${renewed.serial}`));
  const renewedX509 = new X509Certificate(readFileSync(renewed.cert));
  assert.match(server.stderr, new RegExp(`tls_certificate_reloaded.*not_after[=":]+${rfc3339(renewedX509.validTo)}`));

  await t.test('new connections get the new certificate', async () => {
    assert.equal((await handshake(server.port)).serial, renewed.serial);
    const res = await mint(server.base, sk, { allowedModels: ['echo'] }, { ca });
    assert.equal(res.status, 200, res.text);
  });

  await t.test('the live session, on the old certificate, goes on', async () => {
    await live.echo('after the reload');
    assert.deepEqual(live.errors, []);
  });

  await t.test('a new wss:// session opens on the new certificate', async (tt) => {
    const session = new WsSession(tt, WebSocket, streamUrl, { ca });
    await session.echo('a new session');
  });

  await t.test('a key that does not match is refused: the last good pair stays', async () => {
    install(renewed, pki.strayKey('stray-for-reload'));
    server.child.kill('SIGHUP');
    await waitFor(() => countOf(server.stderr, /reload_finished/) >= 2, { what: 'the second reload_finished', timeoutMs: 15_000 });
    assert.match(server.stderr, /tls_reload_failed.*does not match the certificate/);
    assert.equal((await handshake(server.port)).serial, renewed.serial);
    await live.echo('after a failed reload');
  });

  await t.test('an unreadable certificate is refused: the last good pair stays', async () => {
    rmSync(certFile);
    server.child.kill('SIGHUP');
    await waitFor(() => countOf(server.stderr, /reload_finished/) >= 3, { what: 'the third reload_finished', timeoutMs: 15_000 });
    assert.match(server.stderr, /tls_reload_failed.*cannot read TLS certificate/);
    assert.equal((await handshake(server.port)).serial, renewed.serial);
    assert.equal(server.exit, null, 'the server is still running');
  });
});

test('flags from the environment (BOUNCER_TLS_CERT/KEY) and from the configuration file', { timeout: 120_000 }, async (t) => {
  await t.test('environment', async (tt) => {
    const server = await startServer({
      t: tt,
      env: { BOUNCER_TLS_CERT: leaf.chain, BOUNCER_TLS_KEY: leaf.key },
      tls: { ca: pki.rootPem },
    });
    assert.equal((await handshake(server.port)).serial, leaf.serial);
  });

  await t.test('configuration file', async (tt) => {
    const confDir = tempDir('bouncer-tls-conf-');
    tt.after(() => rmSync(confDir, { recursive: true, force: true }));
    const file = writeToml(confDir, `tls_cert = ${JSON.stringify(leaf.chain)}\ntls_key = ${JSON.stringify(leaf.key)}\n`);
    const server = await startServer({ t: tt, args: ['--config', file], tls: { ca: pki.rootPem } });
    assert.equal((await handshake(server.port)).serial, leaf.serial);
  });
});

test('startup errors name the file and the problem', { timeout: 180_000 }, async (t) => {
  // `serve` that must refuse to start: exits non-zero, and stderr says why.
  async function refuses(args, expected) {
    const dataDir = tempDir('bouncer-tls-refusal-');
    try {
      const r = await runCli(['serve', '--data-dir', path.join(dataDir, 'data'), '--listen', '127.0.0.1:0', ...args]);
      assert.notEqual(r.code, 0, `serve started with ${args.join(' ')}:\n${r.stderr}`);
      assert.match(r.stderr, expected);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  await t.test('a key file that does not exist', async () => {
    const missing = path.join(dir, 'missing.key');
    await refuses(['--tls-cert', leaf.chain, '--tls-key', missing], new RegExp(`cannot read TLS key ${missing}: No such file`));
  });

  await t.test('a certificate file that does not exist', async () => {
    const missing = path.join(dir, 'missing.pem');
    await refuses(['--tls-cert', missing, '--tls-key', leaf.key], new RegExp(`cannot read TLS certificate ${missing}: No such file`));
  });

  await t.test('a key file that holds no key', async () => {
    const garbage = path.join(dir, 'garbage.key');
    writeFileSync(garbage, 'this is not a key\n', { mode: 0o600 });
    await refuses(['--tls-cert', leaf.chain, '--tls-key', garbage], new RegExp(`TLS key ${garbage} holds no PEM private key`));
  });

  await t.test('a certificate file that holds no certificate', async () => {
    await refuses(['--tls-cert', leaf.key, '--tls-key', leaf.key], new RegExp(`TLS certificate ${leaf.key} holds no PEM certificate`));
  });

  await t.test('an encrypted key (never a passphrase prompt)', async () => {
    const encrypted = path.join(dir, 'encrypted.key');
    const r = spawnSync('openssl', ['pkey', '-in', leaf.key, '-aes256', '-passout', 'pass:secret', '-out', encrypted]);
    assert.equal(r.status, 0, String(r.stderr));
    chmodSync(encrypted, 0o600);
    await refuses(['--tls-cert', leaf.chain, '--tls-key', encrypted], new RegExp(`TLS key ${encrypted} is encrypted`));
  });

  await t.test('a key that does not match the certificate', async () => {
    const stray = pki.strayKey('stray');
    await refuses(['--tls-cert', leaf.chain, '--tls-key', stray], new RegExp(`TLS key ${stray} does not match the certificate in ${leaf.chain}`));
  });

  await t.test('a key file readable by group or others (mode 0644, 0640)', async () => {
    for (const mode of [0o644, 0o640]) {
      const open = path.join(dir, `open-${mode.toString(8)}.key`);
      copyFileSync(leaf.key, open);
      chmodSync(open, mode);
      await refuses(
        ['--tls-cert', leaf.chain, '--tls-key', open],
        new RegExp(`refusing TLS key ${open}: .*\\(mode 0${mode.toString(8)}\\); run: chmod 600 ${open}`),
      );
    }
  });

  await t.test('--tls-cert without --tls-key', async () => {
    await refuses(['--tls-cert', leaf.chain], /--tls-cert and --tls-key go together/);
  });

  for (const [name, problem, notBefore, notAfter] of [
    ['expired', 'expired', new Date(Date.now() - 10 * DAY_MS), new Date(Date.now() - 5 * DAY_MS)],
    ['future', 'not yet valid', new Date(Date.now() + 5 * DAY_MS), new Date(Date.now() + 10 * DAY_MS)],
  ]) {
    await t.test(`a certificate that is ${problem}: served, with a warning naming its dates`, async (tt) => {
      const cert = pki.server(name, { notBefore, notAfter });
      const x509 = new X509Certificate(readFileSync(cert.cert));
      const server = await startServer({ t: tt, args: tlsArgs(cert), wait: false });
      const m = await server.waitForOutput(/warn tls_certificate_not_valid_now .*/);
      assert.ok(m[0].includes(`problem="${problem}"`) || m[0].includes(`problem=${problem}`), m[0]);
      assert.ok(m[0].includes(`not_before=${rfc3339(x509.validFrom)}`), `${m[0]}\nnot_before ${x509.validFrom}`);
      assert.ok(m[0].includes(`not_after=${rfc3339(x509.validTo)}`), `${m[0]}\nnot_after ${x509.validTo}`);
      const listening = await server.waitForOutput(/listening address=127\.0\.0\.1:(\d+)/);
      // Served as it is: a client that checks dates refuses it, one that does not gets it.
      const info = await handshake(Number(listening[1]), { rejectUnauthorized: false });
      assert.equal(info.serial, cert.serial);
    });
  }
});
