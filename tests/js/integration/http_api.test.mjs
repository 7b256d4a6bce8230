// POST /v1/client/tokens and its neighbours over real HTTP: every status code of docs/API.md,
// the one error shape, and that no secret reaches the server's logs.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { createKey, decodeJwt, listKeys, mint, rawRequest, request, runCli, startServer, waitFor } from '../lib/harness.mjs';

const MAX_BODY = 2048;

// The type that goes with each status (the `type` member of the error object).
const TYPE_OF_STATUS = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  431: 'invalid_request_error',
};

// Asserts the one error shape of docs/API.md: {"error":{type,code,message,param}} and nothing else.
function assertError(res, status, code, param) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json\b/, 'errors are JSON');
  assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${res.text}`);
  assert.deepEqual(Object.keys(res.json), ['error'], `error body: ${res.text}`);
  const e = res.json.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], `error object: ${res.text}`);
  assert.equal(e.type, TYPE_OF_STATUS[status], `type for ${status}: ${res.text}`);
  assert.equal(typeof e.code, 'string');
  assert.match(e.code, /^[a-z][a-z0-9_]*$/, 'code is a machine code');
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0, 'message is not empty');
  assert.ok(e.param === null || typeof e.param === 'string', `param is a string or null: ${res.text}`);
  if (code !== undefined) assert.equal(e.code, code, res.text);
  if (param !== undefined) assert.equal(e.param, param, res.text);
  return e;
}

function nowSeconds() {
  return Date.now() / 1000;
}

describe('HTTP API (docs/API.md)', () => {
  let server;
  let sk;
  let limited; // the rate-limited server of the 429 tests
  const secrets = new Set(); // every sk_ secret and minted JWT: none may appear in stderr
  const minted = (res) => {
    if (res.status === 200 && res.json?.token) secrets.add(res.json.token);
    return res;
  };

  before(async () => {
    server = await startServer({ args: ['--max-body-bytes', String(MAX_BODY), '--log-level', 'debug'] });
    sk = await server.defaultKey();
    secrets.add(sk);
  });
  after(() => server?.cleanup());

  describe('200', () => {
    it('no body: defaults (60 s, unrestricted)', async () => {
      const before = nowSeconds();
      const res = minted(await mint(server.base, sk));
      const afterS = nowSeconds();
      assert.equal(res.status, 200, res.text);
      assert.match(String(res.headers['content-type']), /^application\/json\b/);
      assert.equal(res.headers['cache-control'], 'no-store', 'a token answer must not be cached');
      const b = res.json;
      assert.deepEqual(Object.keys(b).sort(), ['apiKey', 'constraints', 'expiresAt', 'kind', 'permissions', 'token']);
      assert.equal(b.kind, 'token');
      assert.equal(b.apiKey, `ek_${b.token}`);
      assert.match(b.token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'compact JWS');
      assert.match(b.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'RFC 3339 UTC');
      const exp = Date.parse(b.expiresAt) / 1000;
      assert.ok(exp >= Math.floor(before) + 60 - 1 && exp <= Math.ceil(afterS) + 60 + 1, `expiresAt ${b.expiresAt} is not now+60 s`);
      assert.equal(b.permissions, null);
      assert.equal(b.constraints, null);
      const { header, payload } = decodeJwt(b.token);
      assert.equal(header.alg, 'EdDSA');
      assert.equal(payload.exp, exp);
      assert.equal(payload.exp - payload.iat, 60);
      assert.equal(payload.iss, server.base);
      assert.equal(payload.aud, server.base);
      assert.equal(payload.models, undefined);
      assert.equal(payload.origins, undefined);
    });

    it('{} and whitespace bodies mean no options', async () => {
      for (const body of ['{}', ' \n\t ', '{"expiresIn":null}']) {
        const res = minted(await mint(server.base, sk, body, { headers: { 'Content-Type': 'application/json' } }));
        assert.equal(res.status, 200, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.json.permissions, null);
        assert.equal(res.json.constraints, null);
        const { payload } = decodeJwt(res.json.token);
        assert.equal(payload.exp - payload.iat, 60);
      }
    });

    it('all options echo back', async () => {
      const body = {
        expiresIn: 300,
        allowedModels: ['echo', 'demo'],
        allowedOrigins: ['https://app.example.com', 'http://localhost:3000'],
        constraints: { realtime: { maxSessionDuration: 120, maxConcurrentSessions: 4 } },
        metadata: { user: 'u-42', plan: { tier: 'pro' } },
      };
      const t0 = nowSeconds();
      const res = minted(await mint(server.base, sk, body, { headers: { 'Content-Type': 'application/json; charset=utf-8' } }));
      assert.equal(res.status, 200, res.text);
      const b = res.json;
      assert.deepEqual(b.permissions, { models: ['echo', 'demo'], origins: ['https://app.example.com', 'http://localhost:3000'] });
      assert.deepEqual(b.constraints, { realtime: { maxSessionDuration: 120, maxConcurrentSessions: 4 } });
      const exp = Date.parse(b.expiresAt) / 1000;
      assert.ok(Math.abs(exp - (t0 + 300)) <= 3, `expiresAt ${b.expiresAt} is not now+300 s`);
      const { payload } = decodeJwt(b.token);
      assert.equal(payload.exp - payload.iat, 300);
      assert.deepEqual(payload.models, ['echo', 'demo']);
      assert.deepEqual(payload.origins, ['https://app.example.com', 'http://localhost:3000']);
      assert.equal(payload.max_session_duration, 120);
      assert.equal(payload.max_concurrent_sessions, 4);
      assert.ok(!JSON.stringify(payload).includes('u-42'), 'metadata is not in the token (the browser would see it)');
    });

    it('only models or only origins: permissions carries just that one', async () => {
      let res = minted(await mint(server.base, sk, { allowedModels: ['echo'] }));
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.permissions, { models: ['echo'] });
      res = minted(await mint(server.base, sk, { allowedOrigins: ['https://app.example.com'] }));
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.permissions, { origins: ['https://app.example.com'] });
    });

    it('Authorization: Bearer works like X-API-KEY', async () => {
      const res = minted(
        await mint(server.base, undefined, { expiresIn: 30 }, { headers: { Authorization: `Bearer ${sk}` } }),
      );
      assert.equal(res.status, 200, res.text);
      assert.match(res.json.apiKey, /^ek_/);
    });

    it('rate limiting is off by default: 50 quick mints are all 200', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      try {
        const results = await Promise.all(Array.from({ length: 50 }, () => mint(server.base, sk, undefined, { agent })));
        results.forEach(minted);
        const statuses = results.map((r) => r.status);
        assert.deepEqual(statuses, Array(50).fill(200), `statuses: ${statuses.join(',')}`);
        assert.equal(new Set(results.map((r) => decodeJwt(r.json.token).payload.jti)).size, 50, 'every jti is unique');
      } finally {
        agent.destroy();
      }
    });
  });

  describe('400', () => {
    // The origin table of docs/API.md, which must hold exactly; plus a few more of the same rules. Node's
    // WHATWG URL is the oracle for the canonical form (new URL(x).origin).
    const accepted = ['https://app.example.com', 'http://localhost:3000', 'http://[::1]:3000', 'https://xn--bcher-kva.example'];
    const rejected = [
      ['https://app.example.com/', 'https://app.example.com'], // trailing slash
      ['https://app.example.com:443', 'https://app.example.com'], // default port
      ['https://EXAMPLE.com', 'https://example.com'], // mixed case
      ['https://user@example.com', 'https://example.com'], // credentials
      ['example.com', null], // missing scheme
      ['HTTPS://app.example.com', 'https://app.example.com'],
      ['http://app.example.com:80', 'http://app.example.com'],
      ['https://app.example.com/path?q=1#f', 'https://app.example.com'],
      ['https://bücher.example', 'https://xn--bcher-kva.example'], // IDN → punycode
      ['http://[0:0::1]:3000', 'http://[::1]:3000'], // IPv6 → canonical bracketed form
      ['ftp://files.example.com', null],
      ['null', null],
    ];

    for (const origin of accepted) {
      it(`origin ${origin} is accepted`, async () => {
        assert.equal(new URL(origin).origin, origin, 'test data: canonical per WHATWG');
        const res = minted(await mint(server.base, sk, { allowedOrigins: [origin] }));
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json.permissions, { origins: [origin] });
      });
    }

    for (const [origin, canonical] of rejected) {
      it(`origin ${origin} is rejected${canonical ? `, naming ${canonical}` : ''}`, async () => {
        if (canonical) assert.equal(new URL(origin).origin, canonical, 'test data agrees with WHATWG');
        const res = await mint(server.base, sk, { allowedOrigins: ['https://ok.example.com', origin] });
        const e = assertError(res, 400, undefined, 'allowedOrigins[1]');
        if (canonical) {
          assert.equal(e.code, 'origin_not_canonical', res.text);
          assert.ok(e.message.includes(`"${canonical}"`), `message names the canonical form ${canonical}: ${e.message}`);
        } else {
          assert.ok(['origin_not_canonical', 'invalid_origin'].includes(e.code), res.text);
        }
      });
    }

    it('unknown field: refused, naming the allowed ones', async () => {
      const res = await mint(server.base, sk, { expiresIn: 60, expires_in: 60 });
      const e = assertError(res, 400, 'unknown_field', 'expires_in');
      for (const name of ['expiresIn', 'allowedModels', 'allowedOrigins', 'constraints', 'metadata']) {
        assert.ok(e.message.includes(name), `message names ${name}: ${e.message}`);
      }
    });

    it('duplicate JSON keys are refused, at any depth', async () => {
      const headers = { 'Content-Type': 'application/json' };
      for (const body of [
        '{"expiresIn":60,"expiresIn":3600}',
        '{"constraints":{"realtime":{"maxSessionDuration":60,"maxSessionDuration":3600}}}',
        '{"metadata":{"role":"viewer","role":"admin"}}',
      ]) {
        const res = await mint(server.base, sk, body, { headers });
        assertError(res, 400, 'duplicate_key');
      }
    });

    const cases = [
      ['expiresIn 0', { expiresIn: 0 }, 'out_of_range', 'expiresIn'],
      ['expiresIn 3601', { expiresIn: 3601 }, 'out_of_range', 'expiresIn'],
      ['expiresIn as a string', { expiresIn: '60' }, 'invalid_type', 'expiresIn'],
      ['expiresIn with a fraction', { expiresIn: 1.5 }, 'invalid_type', 'expiresIn'],
      ['unknown model', { allowedModels: ['echo', 'gpt-nope'] }, 'unknown_model', 'allowedModels[1]'],
      ['21 models', { allowedModels: Array(21).fill('echo') }, 'too_many_entries', 'allowedModels'],
      [
        '21 origins',
        { allowedOrigins: Array.from({ length: 21 }, (_, i) => `https://a${i}.example.com`) },
        'too_many_entries',
        'allowedOrigins',
      ],
      ['origin over 253 chars', { allowedOrigins: [`https://${'a'.repeat(250)}.com`] }, 'origin_too_long', 'allowedOrigins[0]'],
      [
        'maxSessionDuration under 10',
        { constraints: { realtime: { maxSessionDuration: 5 } } },
        'out_of_range',
        'constraints.realtime.maxSessionDuration',
      ],
      [
        'maxConcurrentSessions 0',
        { constraints: { realtime: { maxConcurrentSessions: 0 } } },
        'out_of_range',
        'constraints.realtime.maxConcurrentSessions',
      ],
      [
        'maxConcurrentSessions 1001',
        { constraints: { realtime: { maxConcurrentSessions: 1001 } } },
        'out_of_range',
        'constraints.realtime.maxConcurrentSessions',
      ],
      [
        'maxConcurrentSessions above the server default ceiling of 10',
        { constraints: { realtime: { maxConcurrentSessions: 11 } } },
        'out_of_range',
        'constraints.realtime.maxConcurrentSessions',
      ],
      [
        'maxConcurrentSessions as a string',
        { constraints: { realtime: { maxConcurrentSessions: '2' } } },
        'invalid_type',
        'constraints.realtime.maxConcurrentSessions',
      ],
      ['metadata not an object', { metadata: ['a'] }, 'invalid_type', 'metadata'],
      ['body not an object', [1, 2], 'invalid_body', null],
    ];
    for (const [name, body, code, param] of cases) {
      it(`${name} → ${code}`, async () => {
        assertError(await mint(server.base, sk, body), 400, code, param);
      });
    }

    // Numbers beyond a double are out_of_range like any other, and quoted as the client wrote them.
    it('numbers too large to represent → out_of_range, quoted as written', async () => {
      const headers = { 'Content-Type': 'application/json' };
      const huge = assertError(await mint(server.base, sk, '{"expiresIn":1e400}', { headers }), 400, 'out_of_range', 'expiresIn');
      assert.equal(huge.message, 'expiresIn must be an integer between 1 and 3600 seconds, got 1e400');
      const meta = assertError(await mint(server.base, sk, '{"metadata":{"a":1e400}}', { headers }), 400, 'out_of_range', 'metadata.a');
      assert.ok(meta.message.startsWith('metadata.a is 1e400, '), meta.message);
      const exp = assertError(await mint(server.base, sk, '{"expiresIn":6e1}', { headers }), 400, 'invalid_type', 'expiresIn');
      assert.ok(exp.message.includes('got 6e1, '), exp.message);
    });

    it('malformed JSON → invalid_json', async () => {
      const res = await mint(server.base, sk, '{"expiresIn": 60', { headers: { 'Content-Type': 'application/json' } });
      assertError(res, 400, 'invalid_json');
    });
  });

  describe('401', () => {
    it('missing key', async () => {
      assertError(await mint(server.base, undefined, {}), 401, 'missing_api_key');
    });
    it('unknown sk_ key', async () => {
      const fake = `sk_${Buffer.alloc(32, 7).toString('base64url')}`;
      assertError(await mint(server.base, fake, {}), 401, 'invalid_api_key');
      assertError(await mint(server.base, undefined, {}, { headers: { Authorization: `Bearer ${fake}` } }), 401, 'invalid_api_key');
    });
    it('garbage', async () => {
      for (const key of ['hello', 'sk_', 'Bearer', 'sk_short', `${sk}x`]) {
        assertError(await mint(server.base, key, {}), 401, undefined);
      }
      assertError(await mint(server.base, undefined, {}, { headers: { Authorization: 'Basic dXNlcjpwdw==' } }), 401);
    });
  });

  describe('403', () => {
    it('an ek_ client token cannot mint', async () => {
      const res = minted(await mint(server.base, sk, {}));
      assert.equal(res.status, 200, res.text);
      assertError(await mint(server.base, res.json.apiKey, {}), 403, 'client_token_cannot_mint');
      assertError(
        await mint(server.base, undefined, {}, { headers: { Authorization: `Bearer ${res.json.apiKey}` } }),
        403,
        'client_token_cannot_mint',
      );
    });

    it('a revoked key', async () => {
      const secret = await createKey(server.dataDir, 'to-revoke');
      secrets.add(secret);
      // New keys reach the running server by its state poll.
      await waitFor(async () => minted(await mint(server.base, secret, {})).status === 200, {
        timeoutMs: 10_000,
        what: 'the new key to be accepted',
      });
      const id = (await listKeys(server.dataDir)).find((k) => k.name === 'to-revoke').id;
      const r = await runCli(['keys', 'revoke', id, '--data-dir', server.dataDir]);
      assert.equal(r.code, 0, r.stderr);
      const res = await waitFor(
        async () => {
          const x = await mint(server.base, secret, {});
          return x.status === 403 ? x : null;
        },
        { timeoutMs: 10_000, what: 'the revoked key to be refused' },
      );
      assertError(res, 403, 'api_key_revoked');
    });
  });

  it('404 for an unknown path', async () => {
    assertError(await request(server.base, { path: '/v1/nope' }), 404, 'not_found');
    assertError(await request(server.base, { method: 'POST', path: '/v1/client/tokens/x' }), 404, 'not_found');
  });

  it('405 with Allow', async () => {
    let res = await request(server.base, { path: '/v1/client/tokens', headers: { 'X-API-KEY': sk } });
    assertError(res, 405, 'method_not_allowed');
    assert.equal(res.headers.allow, 'POST');
    res = await request(server.base, { method: 'PUT', path: '/v1/client/tokens?x=1', headers: { 'X-API-KEY': sk }, body: {} });
    assertError(res, 405);
    assert.equal(res.headers.allow, 'POST');
    res = await request(server.base, { method: 'POST', path: '/.well-known/jwks.json', body: {} });
    assertError(res, 405);
    assert.equal(res.headers.allow, 'GET');
  });

  it('413 for a body over --max-body-bytes', async () => {
    const body = JSON.stringify({ metadata: { blob: 'x'.repeat(MAX_BODY) } });
    const res = await mint(server.base, sk, body, { headers: { 'Content-Type': 'application/json' } });
    assertError(res, 413, 'body_too_large');
    // Just under the limit is not a 413 (metadata has its own, smaller cap: 400 or 200).
    const small = JSON.stringify({ metadata: { blob: 'x'.repeat(MAX_BODY - 100) } });
    const res2 = minted(await mint(server.base, sk, small, { headers: { 'Content-Type': 'application/json' } }));
    assert.notEqual(res2.status, 413, res2.text);
  });

  it('415 for a body that is not JSON', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
      const res = await mint(server.base, sk, '{"expiresIn":60}', { headers: { 'Content-Type': ct } });
      assertError(res, 415, 'unsupported_media_type');
    }
    // No Content-Type at all with a body.
    assertError(await mint(server.base, sk, '{"expiresIn":60}'), 415, 'unsupported_media_type');
  });

  it('431 for a huge header', async () => {
    const res = await request(server.base, {
      method: 'POST',
      path: '/v1/client/tokens',
      headers: { 'X-API-KEY': sk, 'X-Padding': 'p'.repeat(16 * 1024) },
      body: {},
    });
    assertError(res, 431, 'headers_too_large');
  });

  it('GET /healthz', async () => {
    const res = await request(server.base, { path: '/healthz' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
  });

  // RFC 9110 §9.3.2: the answer to HEAD has the headers of the GET answer and no content;
  // content after them would be read as the next response on a keep-alive connection.
  for (const p of ['/healthz', '/.well-known/jwks.json']) {
    it(`HEAD ${p}: 200, headers only, no body`, async () => {
      const res = await rawRequest(server.port, `HEAD ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      assert.equal(res.status, 200, res.raw);
      assert.match(String(res.headers['content-type']), /^application\/json\b/);
      assert.equal(res.text, '', `HEAD ${p} answered with a body: ${JSON.stringify(res.raw)}`);
    });
  }

  describe('429 (--mint-rate-per-key 1 --mint-burst 2)', () => {
    let key;
    before(async () => {
      limited = await startServer({ args: ['--mint-rate-per-key', '1', '--mint-burst', '2', '--log-format', 'json'] });
      key = await limited.defaultKey();
      secrets.add(key);
    });
    after(() => limited?.cleanup());

    it('the third quick mint is refused with Retry-After; then allowed again', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
      try {
        const results = await Promise.all([1, 2, 3].map(() => mint(limited.base, key, {}, { agent })));
        results.forEach(minted);
        const ok = results.filter((r) => r.status === 200);
        const refused = results.filter((r) => r.status === 429);
        assert.equal(ok.length, 2, results.map((r) => r.status).join(','));
        assert.equal(refused.length, 1, results.map((r) => r.status).join(','));
        const e = assertError(refused[0], 429, 'rate_limited');
        const retryAfter = refused[0].headers['retry-after'];
        assert.match(String(retryAfter), /^[1-9]\d*$/, 'Retry-After is a whole number of seconds');
        assert.ok(Number(retryAfter) <= 2, `Retry-After ${retryAfter} s is about 1/rate`);
        assert.ok(e.message.length > 0);
        // Once Retry-After has passed the key mints again: a rate limit, not a ban.
        await new Promise((r) => setTimeout(r, Number(retryAfter) * 1000 + 100));
        const again = minted(await mint(limited.base, key, {}));
        assert.equal(again.status, 200, again.text);
      } finally {
        agent.destroy();
      }
    });

    it('limits are per key: another key is not affected', async () => {
      for (let i = 0; i < 3; i++) minted(await mint(limited.base, key, {})); // exhaust the default key
      assertError(await mint(limited.base, key, {}), 429, 'rate_limited');
      const other = await createKey(limited.dataDir, 'other');
      secrets.add(other);
      await waitFor(async () => minted(await mint(limited.base, other, {})).status === 200, {
        timeoutMs: 10_000,
        what: 'the other key to mint',
      });
    });

    it('--log-format json writes one JSON object per line', () => {
      const lines = limited.stderr.split('\n').filter((l) => l.trim());
      assert.ok(lines.length > 0);
      for (const line of lines) {
        let obj;
        assert.doesNotThrow(() => (obj = JSON.parse(line)), `not JSON: ${line}`);
        assert.equal(typeof obj.event, 'string', line);
        assert.equal(typeof obj.level, 'string', line);
      }
      assert.ok(lines.some((l) => JSON.parse(l).event === 'listening'));
    });
  });

  // Last: everything above has been logged by now (debug level on the main server).
  it('no secret (sk_ key or minted token) ever appears in the server logs', () => {
    assert.ok(secrets.size > 50, `collected ${secrets.size} secrets to look for`);
    assert.ok(server.stderr.length > 0, 'the server logged something');
    assert.ok(/\bdebug\b.*\bminted\b/.test(server.stderr), 'debug logging was on, so mints were logged');
    for (const s of [server, limited].filter(Boolean)) {
      for (const secret of secrets) {
        assert.ok(!s.stderr.includes(secret), `a secret (${secret.slice(0, 12)}…) is in the server's stderr`);
        if (secret.includes('.')) {
          const signature = secret.split('.')[2];
          assert.ok(!s.stderr.includes(signature), 'a token signature is in the server\'s stderr');
        }
      }
      assert.ok(!/sk_[A-Za-z0-9_-]{43}/.test(s.stderr), 'an sk_ secret is in the server\'s stderr');
      assert.ok(!/eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\./.test(s.stderr), 'a JWT is in the server\'s stderr');
    }
  });
});
