// The public @decartai/sdk talks to Bouncer as it is (docs/API.md: wire-compatible with
// tokens.create()). The SDK posts JSON to `${baseUrl}/v1/client/tokens` with X-API-KEY.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeJwt, importDep, runCli, startServer } from '../lib/harness.mjs';

const { createDecartClient } = await importDep('@decartai/sdk');

function assertCredential(result) {
  assert.equal(typeof result.apiKey, 'string');
  assert.match(result.apiKey, /^ek_/);
  assert.equal(typeof result.expiresAt, 'string');
  const when = Date.parse(result.expiresAt);
  assert.ok(Number.isFinite(when), `expiresAt ${result.expiresAt} parses as a date`);
  assert.ok(when > Date.now() - 5000, 'expiresAt is in the future');
  assert.equal(result.apiKey, `ek_${result.token}`);
}

test('@decartai/sdk tokens.create() against bouncer', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();
  const client = createDecartClient({ apiKey: sk, baseUrl: server.base });

  await t.test('no options', async () => {
    const result = await client.tokens.create();
    assertCredential(result);
    assert.equal(result.permissions, null);
    assert.equal(result.constraints, null);
    const { payload } = decodeJwt(result.token);
    assert.equal(payload.exp - payload.iat, 60);
  });

  await t.test('with metadata: stored server-side under the jti', async () => {
    const result = await client.tokens.create({ metadata: { role: 'viewer', userId: 'u-7' } });
    assertCredential(result);
    const { payload } = decodeJwt(result.token);
    assert.equal(payload.metadata, undefined);
    const r = await runCli([
      'tokens',
      'inspect',
      result.apiKey,
      '--data-dir',
      server.dataDir,
      '--listen',
      `127.0.0.1:${server.port}`,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /verdict: valid/);
    const line = r.stdout.split('\n').find((l) => l.startsWith('metadata:'));
    assert.ok(line, `inspect shows the metadata: ${r.stdout}`);
    assert.deepEqual(JSON.parse(line.slice('metadata:'.length)), { role: 'viewer', userId: 'u-7' });
  });

  await t.test('with every option of CreateTokenOptions', async () => {
    const result = await client.tokens.create({
      expiresIn: 120,
      allowedModels: ['echo'],
      allowedOrigins: ['https://example.com'],
      constraints: { realtime: { maxSessionDuration: 60 } },
      metadata: { role: 'viewer' },
    });
    assertCredential(result);
    assert.deepEqual(result.permissions, { models: ['echo'], origins: ['https://example.com'] });
    assert.deepEqual(result.constraints, { realtime: { maxSessionDuration: 60 } });
    const { payload } = decodeJwt(result.token);
    assert.equal(payload.exp - payload.iat, 120);
  });

  await t.test('constraints.realtime.maxConcurrentSessions passes through the SDK and is echoed', async () => {
    const result = await client.tokens.create({
      constraints: { realtime: { maxSessionDuration: 60, maxConcurrentSessions: 2 } },
    });
    assertCredential(result);
    assert.deepEqual(result.constraints, { realtime: { maxSessionDuration: 60, maxConcurrentSessions: 2 } });
    assert.equal(decodeJwt(result.token).payload.max_concurrent_sessions, 2);
    await assert.rejects(client.tokens.create({ constraints: { realtime: { maxConcurrentSessions: 11 } } }), (e) => {
      assert.equal(e.data?.status, 400);
      assert.match(String(e.message), /out_of_range/);
      assert.match(String(e.message), /ceiling of 10/);
      return true;
    });
  });

  await t.test('errors surface as SDK errors with the status', async () => {
    const bad = createDecartClient({ apiKey: `sk_${Buffer.alloc(32, 1).toString('base64url')}`, baseUrl: server.base });
    // The SDK rejects with a plain object {code, message, data: {status}}.
    await assert.rejects(bad.tokens.create(), (e) => {
      assert.equal(e.code, 'TOKEN_CREATE_ERROR');
      assert.equal(e.data?.status, 401);
      assert.match(String(e.message), /invalid_api_key/);
      return true;
    });
    await assert.rejects(client.tokens.create({ allowedOrigins: ['https://example.com/'] }), (e) => {
      assert.equal(e.data?.status, 400);
      assert.match(String(e.message), /origin_not_canonical/);
      assert.match(String(e.message), /https:\/\/example\.com\\?"/, 'names the canonical form');
      return true;
    });
  });

  await t.test('a client token cannot mint through the SDK either', async () => {
    const { apiKey } = await client.tokens.create();
    const browser = createDecartClient({ apiKey, baseUrl: server.base });
    await assert.rejects(browser.tokens.create(), (e) => {
      assert.equal(e.data?.status, 403);
      assert.match(String(e.message), /client_token_cannot_mint/);
      return true;
    });
  });
});
