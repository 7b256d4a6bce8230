// A standard JOSE library (jose) verifies the server's tokens offline from its JWKS
// (docs/TOKENS.md), before and after a signing-key rotation.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeJwt, importDep, listKeys, mint, request, runCli, startServer, waitFor } from '../lib/harness.mjs';

const { createRemoteJWKSet, createLocalJWKSet, jwtVerify, errors } = await importDep('jose');

async function fetchJwks(base) {
  const res = await request(base, { path: '/.well-known/jwks.json' });
  assert.equal(res.status, 200, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json\b/);
  return res.json;
}

function assertPublicJwk(k) {
  assert.equal(k.kty, 'OKP');
  assert.equal(k.crv, 'Ed25519');
  assert.match(k.kid, /^[A-Za-z0-9_-]+$/);
  assert.match(k.x, /^[A-Za-z0-9_-]{43}$/, '32-byte public key, base64url');
  assert.equal(k.d, undefined, 'a private key member in the JWKS!');
  if (k.alg !== undefined) assert.equal(k.alg, 'EdDSA');
  if (k.use !== undefined) assert.equal(k.use, 'sig');
}

test('tokens verify with jose through the JWKS, across a signing-key rotation', { timeout: 120_000 }, async (t) => {
  const server = await startServer({ t });
  const sk = await server.defaultKey();
  const base = server.base;
  const keyId = (await listKeys(server.dataDir)).find((k) => k.name === 'default').id;
  const verifyOptions = { issuer: base, audience: base, algorithms: ['EdDSA'] };

  const jwks1 = await fetchJwks(base);
  assert.equal(jwks1.keys.length, 1, JSON.stringify(jwks1));
  jwks1.keys.forEach(assertPublicJwk);
  const oldKid = jwks1.keys[0].kid;

  const JWKS = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));

  // --- a scoped token --------------------------------------------------------------------
  const res = await mint(server.base, sk, {
    expiresIn: 600,
    allowedModels: ['echo'],
    allowedOrigins: ['https://app.example.com'],
    constraints: { realtime: { maxSessionDuration: 90 } },
    metadata: { secret_note: 'server-side only' },
  });
  assert.equal(res.status, 200, res.text);
  const oldToken = res.json.token;
  const { payload, protectedHeader } = await jwtVerify(oldToken, JWKS, verifyOptions);
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.equal(protectedHeader.typ, 'JWT');
  assert.equal(protectedHeader.kid, oldKid);
  assert.equal(payload.iss, base);
  assert.equal(payload.aud, base);
  assert.equal(payload.sub, keyId, 'sub is the parent key id');
  assert.equal(typeof payload.jti, 'string');
  assert.ok(payload.jti.length >= 16, `jti ${payload.jti} carries enough randomness`);
  assert.equal(payload.exp - payload.iat, 600);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 30, 'iat is now');
  assert.deepEqual(payload.models, ['echo']);
  assert.deepEqual(payload.origins, ['https://app.example.com']);
  assert.equal(payload.max_session_duration, 90);
  assert.equal(payload.metadata, undefined, 'metadata stays server-side');
  assert.ok(!JSON.stringify(payload).includes('server-side only'));
  assert.equal(Date.parse(res.json.expiresAt) / 1000, payload.exp, 'expiresAt is the exp claim');

  // The ek_ form is "ek_" + the same JWS.
  await jwtVerify(res.json.apiKey.slice(3), JWKS, verifyOptions);

  // An unscoped token has no scope claims.
  const plain = await mint(server.base, sk, {});
  assert.equal(plain.status, 200, plain.text);
  const p2 = (await jwtVerify(plain.json.token, JWKS, verifyOptions)).payload;
  assert.equal(p2.models, undefined);
  assert.equal(p2.origins, undefined);
  assert.notEqual(p2.jti, payload.jti, 'jti is unique');

  // --- the verification is real: a changed claim or another issuer fails ----------------
  const [h, , s] = oldToken.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, exp: payload.exp + 3600 })).toString('base64url')}.${s}`;
  await assert.rejects(jwtVerify(forged, JWKS, verifyOptions), errors.JWSSignatureVerificationFailed);
  await assert.rejects(
    jwtVerify(oldToken, JWKS, { ...verifyOptions, issuer: 'https://elsewhere.example' }),
    errors.JWTClaimValidationFailed,
  );
  await assert.rejects(jwtVerify(oldToken, JWKS, { ...verifyOptions, audience: 'https://elsewhere.example' }));

  // --- rotation --------------------------------------------------------------------------
  const rot = await runCli(['signing-keys', 'rotate', '--data-dir', server.dataDir]);
  assert.equal(rot.code, 0, rot.stderr);

  // The running server picks the new key up by its state poll: wait until a new mint carries it.
  const newToken = await waitFor(
    async () => {
      const r = await mint(server.base, sk, { allowedModels: ['demo'] });
      assert.equal(r.status, 200, r.text);
      return decodeJwt(r.json.token).header.kid !== oldKid ? r.json.token : null;
    },
    { timeoutMs: 10_000, intervalMs: 100, what: 'a token signed with the new key' },
  );
  const newKid = decodeJwt(newToken).header.kid;
  assert.notEqual(newKid, oldKid);
  assert.ok(rot.stdout.includes(newKid), `rotate names the new kid: ${rot.stdout}`);

  const jwks2 = await fetchJwks(base);
  jwks2.keys.forEach(assertPublicJwk);
  assert.deepEqual(jwks2.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort(), 'the JWKS lists the retired and the new key');
  assert.equal(new Set(jwks2.keys.map((k) => k.x)).size, 2, 'two different public keys');

  // A verifier that starts now (fresh JWKS fetch) takes both tokens...
  const fresh = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
  const oldAgain = await jwtVerify(oldToken, fresh, verifyOptions);
  assert.equal(oldAgain.protectedHeader.kid, oldKid);
  const verifiedNew = await jwtVerify(newToken, fresh, verifyOptions);
  assert.equal(verifiedNew.protectedHeader.kid, newKid);
  assert.deepEqual(verifiedNew.payload.models, ['demo']);
  assert.equal(verifiedNew.payload.sub, keyId);
  // ...and so does an offline verifier holding a copy of the JWKS.
  const local = createLocalJWKSet(jwks2);
  await jwtVerify(oldToken, local, verifyOptions);
  await jwtVerify(newToken, local, verifyOptions);
  // The new key did not sign the old token: a JWKS of the new key alone refuses it.
  const onlyNew = createLocalJWKSet({ keys: jwks2.keys.filter((k) => k.kid === newKid) });
  await assert.rejects(jwtVerify(oldToken, onlyNew, verifyOptions), errors.JWKSNoMatchingKey);
});
