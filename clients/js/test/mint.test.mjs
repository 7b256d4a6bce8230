// mintToken and mintUrl against a fake fetch: the request they send, the credential they
// return, and each HTTP error as a MintError.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BouncerError, MintError, mintToken, mintUrl } from '../src/index.js';

const SK = `sk_${'A'.repeat(43)}`;
const BASE = 'https://bouncer.example.com';

// A fetch that records its requests and answers `status` with `body` (and `headers`).
function fakeFetch(status, body, headers = {}) {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, ...init, body: JSON.parse(init.body) });
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
  };
  return { fetch, requests };
}

const apiError = (type, code, message, param = null) => ({ error: { type, code, message, param } });

test('mintToken posts the wire options and returns {kind:"token", token, expiresAt}', async () => {
  const { fetch, requests } = fakeFetch(200, {
    kind: 'token',
    apiKey: 'ek_eyJ.a.b',
    token: 'eyJ.a.b',
    expiresAt: '2030-01-01T00:00:00Z',
    permissions: null,
    constraints: null,
    maxUses: 1,
  });
  const options = {
    expiresIn: 120,
    allowedModels: ['echo'],
    allowedOrigins: ['https://app.example.com'],
    constraints: { realtime: { maxSessionDuration: 600 } },
    metadata: { user: 'u_42' },
    maxUses: 1,
  };
  const credential = await mintToken({ baseUrl: `${BASE}/`, apiKey: SK, fetch, ...options });
  assert.deepEqual(credential, { kind: 'token', token: 'ek_eyJ.a.b', expiresAt: '2030-01-01T00:00:00Z' });
  assert.equal(requests[0].url, `${BASE}/v1/client/tokens`);
  assert.equal(requests[0].method, 'POST');
  assert.equal(requests[0].headers['X-API-KEY'], SK);
  assert.equal(requests[0].headers['Content-Type'], 'application/json');
  assert.deepEqual(requests[0].body, options, 'only the wire options, never baseUrl, apiKey or fetch');
});

test('mintUrl posts model to /v1/client/urls (a ws:// base is taken too) and returns {kind:"url", url, expiresAt}', async () => {
  const url = 'ws://127.0.0.1:8080/v1/stream?model=echo&token=eyJ.a.b';
  const { fetch, requests } = fakeFetch(200, { kind: 'url', url, expiresAt: '2030-01-01T00:00:00Z' });
  const credential = await mintUrl({ baseUrl: 'ws://127.0.0.1:8080', apiKey: SK, fetch, model: 'echo', maxUses: 2 });
  assert.deepEqual(credential, { kind: 'url', url, expiresAt: '2030-01-01T00:00:00Z' });
  assert.equal(requests[0].url, 'http://127.0.0.1:8080/v1/client/urls');
  assert.deepEqual(requests[0].body, { model: 'echo', maxUses: 2 });
  await assert.rejects(mintUrl({ baseUrl: BASE, apiKey: SK, fetch }), /needs model/);
});

test('an error answer is a MintError with the body\'s fields; 4xx are not retryable', async () => {
  const body = apiError('invalid_request_error', 'out_of_range', 'expiresIn must be an integer between 1 and 3600 seconds, got 99999', 'expiresIn');
  const { fetch } = fakeFetch(400, body);
  await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch, expiresIn: 99999 }), (e) => {
    assert.ok(e instanceof MintError);
    assert.equal(e.status, 400);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'out_of_range');
    assert.equal(e.param, 'expiresIn');
    assert.equal(e.message, body.error.message);
    assert.equal(e.retryable, false);
    assert.equal(e.retryAfterSeconds, null);
    return true;
  });
});

test('429 is retryable and carries Retry-After (seconds or an HTTP date)', async () => {
  const limited = apiError('rate_limit_error', 'rate_limited', 'Too many tokens minted with this key: retry after 2 s');
  const { fetch } = fakeFetch(429, limited, { 'Retry-After': '2' });
  await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch }), (e) => e.retryable && e.retryAfterSeconds === 2 && e.code === 'rate_limited');
  const at = new Date(Date.now() + 5000).toUTCString();
  const dated = fakeFetch(429, limited, { 'Retry-After': at });
  await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch: dated.fetch }), (e) => e.retryAfterSeconds >= 4 && e.retryAfterSeconds <= 6);
});

test('5xx and no answer at all are retryable', async () => {
  const { fetch } = fakeFetch(503, apiError('api_error', 'store_unavailable', 'The token record could not be stored'));
  await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch }), (e) => e.status === 503 && e.retryable);
  const html = fakeFetch(502, '<html>bad gateway</html>');
  await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch: html.fetch }), (e) => e.status === 502 && e.code === 'http_error' && e.retryable);
  const down = async () => {
    throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
  };
  await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch: down }), (e) => {
    assert.equal(e.status, 0);
    assert.equal(e.code, 'network_error');
    assert.equal(e.retryable, true);
    assert.match(e.message, /ECONNREFUSED/);
    return true;
  });
});

test('the sk_ key never appears in an error message, even when something quotes it', async () => {
  const echoing = async (url, init) => {
    throw new Error(`refused header X-API-KEY: ${init.headers['X-API-KEY']}`);
  };
  await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch: echoing }), (e) => {
    assert.ok(!e.message.includes(SK), e.message);
    assert.ok(!String(e.cause?.message).includes(SK), 'nor in its cause');
    assert.match(e.message, /sk_REDACTED/);
    return true;
  });
});

test('an sk_ key where a window exists is refused unless dangerouslyAllowBrowser', async () => {
  const { fetch } = fakeFetch(200, { apiKey: 'ek_eyJ.a.b', expiresAt: '2030-01-01T00:00:00Z' });
  globalThis.window = { document: {} };
  try {
    await assert.rejects(mintToken({ baseUrl: BASE, apiKey: SK, fetch }), (e) => {
      assert.ok(e instanceof BouncerError);
      assert.equal(e.code, 'secret_key_in_browser');
      assert.ok(!e.message.includes(SK));
      return true;
    });
    const credential = await mintToken({ baseUrl: BASE, apiKey: SK, fetch, dangerouslyAllowBrowser: true });
    assert.equal(credential.kind, 'token');
  } finally {
    delete globalThis.window;
  }
});

test('missing baseUrl or apiKey is a TypeError before any request', async () => {
  const { fetch, requests } = fakeFetch(200, {});
  await assert.rejects(mintToken({ apiKey: SK, fetch }), TypeError);
  await assert.rejects(mintToken({ baseUrl: BASE, fetch }), TypeError);
  assert.equal(requests.length, 0);
});
