// The DIY Node gateway: what a team writes instead of running Bouncer (bench/peers/node/README.md).
// node:http + jose (EdDSA, Ed25519) + ws. One process, one event loop.
//
//   node server.mjs --listen 127.0.0.1:0 --port-file F --key-file K --model up=ws://127.0.0.1:9000/
//                   [--signing-key-file S] [--public-url http://127.0.0.1:PORT]
//
// --key-file: a file holding the one permanent key (sk_…) allowed to mint. --signing-key-file: the
// Ed25519 private key (PKCS #8 PEM), made there on first start if missing, so that tokens stay
// valid across restarts; without it a new key is made at every start.
//
//   POST /v1/client/tokens   X-API-KEY: sk_… (or Authorization: Bearer sk_…), JSON options
//                            (docs/API.md) → {kind, apiKey, token, expiresAt, permissions, constraints}
//   GET  /v1/stream?model=M&api_key=ek_…   WebSocket: verify the token (EdDSA, exp, iss, aud),
//                            the model and the Origin, then connect upstream and pipe frames.
//   GET  /.well-known/jwks.json
//
// The upstream's shared secret comes from the environment (MODEL_SERVER_SECRET), as
// X-Bouncer-Upstream-Secret. Once listening it prints "listening on HOST:PORT".
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';

import { SignJWT, exportJWK, importPKCS8, importSPKI, jwtVerify, errors as joseErrors } from 'jose';
import WebSocket, { WebSocketServer } from 'ws';

// ---- configuration --------------------------------------------------------------------------
const args = process.argv.slice(2);
const options = { listen: '127.0.0.1:8090', models: new Map() };
for (let i = 0; i < args.length; i++) {
  const value = () => {
    if (i + 1 >= args.length) throw new Error(`${args[i]} needs a value`);
    return args[++i];
  };
  switch (args[i]) {
    case '--listen': options.listen = value(); break;
    case '--port-file': options.portFile = value(); break;
    case '--key-file': options.keyFile = value(); break;
    case '--public-url': options.publicUrl = value(); break;
    case '--signing-key-file': options.signingKeyFile = value(); break;
    case '--model': {
      const [name, url] = value().split(/=(.*)/s);
      if (!name || !url) throw new Error('--model wants NAME=ws://HOST:PORT/PATH');
      options.models.set(name, url);
      break;
    }
    default: throw new Error(`unknown argument ${args[i]}`);
  }
}
if (!options.keyFile) throw new Error('--key-file is required (a file holding the sk_ key)');
const permanentKey = readFileSync(options.keyFile, 'utf8').split('\n')[0].trim();
if (!permanentKey.startsWith('sk_')) throw new Error('the key file must hold an sk_ key');
// Only a hash of the permanent key is kept; presented keys are hashed and compared in constant time.
const sha256 = (s) => createHash('sha256').update(s).digest();
const permanentKeyHash = sha256(permanentKey);
const keyId = 'key_' + permanentKeyHash.subarray(0, 8).toString('hex');
const upstreamSecret = process.env.MODEL_SERVER_SECRET ?? '';

const LIMITS = {
  minExpiresIn: 1, maxExpiresIn: 3600, defaultExpiresIn: 60,
  maxModels: 20, maxOrigins: 20, maxOriginLength: 253,
  minSessionDuration: 10, maxSessionDuration: 86400,
  maxMetadataBytes: 4096, maxMetadataKeys: 64, maxMetadataDepth: 4,
  maxBodyBytes: 64 * 1024, maxMessageBytes: 1 << 20, leewaySeconds: 30,
};
const TOKEN_FIELDS = ['expiresIn', 'allowedModels', 'allowedOrigins', 'constraints', 'metadata'];

// The signing key: from --signing-key-file (made there on first start), else made at start.
let privatePem;
if (options.signingKeyFile && existsSync(options.signingKeyFile)) {
  privatePem = readFileSync(options.signingKeyFile, 'utf8');
} else {
  privatePem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
  if (options.signingKeyFile) writeFileSync(options.signingKeyFile, privatePem, { mode: 0o600 });
}
const privateKey = await importPKCS8(privatePem, 'EdDSA');
const publicKey = await importSPKI(createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }), 'EdDSA', { extractable: true });
const kid = createHash('sha256').update(JSON.stringify(await exportJWK(publicKey))).digest('base64url').slice(0, 16);
const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }] });

// Metadata is not put in the token (the browser would see it): kept here, in memory, by jti.
const metadataByJti = new Map();
setInterval(() => {
  const now = Date.now() / 1000;
  for (const [jti, m] of metadataByJti) if (m.exp < now) metadataByJti.delete(jti);
}, 10_000).unref();

// ---- errors -----------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, type, code, message, param) {
    super(message);
    Object.assign(this, { status, type, code, param });
  }
}
const invalid = (code, message, param) => new ApiError(400, 'invalid_request_error', code, message, param);

function sendJson(res, status, body, extraHeaders = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...extraHeaders });
  res.end(text);
}
function sendError(res, e) {
  const error = { type: e.type, code: e.code, message: e.message };
  if (e.param) error.param = e.param;
  sendJson(res, e.status, { error });
}

// ---- mint options (docs/API.md) -------------------------------------------------------------------
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const describe = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `the string ${JSON.stringify(v)}` : typeof v === 'object' ? 'an object' : String(v));

function readInteger(v, param, lo, hi) {
  const rule = `${param} must be an integer between ${lo} and ${hi} seconds`;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid('invalid_type', `${rule}, got ${describe(v)}`, param);
  if (v < lo || v > hi) throw invalid('out_of_range', `${rule}, got ${v}`, param);
  return v;
}

function readList(v, field, max, check) {
  if (!Array.isArray(v)) throw invalid('invalid_type', `${field} must be an array, got ${describe(v)}`, field);
  if (v.length === 0) throw invalid('empty_array', `${field} must list at least one entry: omit the field to allow every one`, field);
  if (v.length > max) throw invalid('too_many_entries', `${field} has ${v.length} entries; at most ${max} are allowed`, field);
  v.forEach((entry, i) => {
    const param = `${field}[${i}]`;
    check(entry, param);
    const first = v.indexOf(entry);
    if (first !== i) throw invalid('duplicate_entry', `${param}: ${JSON.stringify(entry)} is already listed at ${field}[${first}]; list each entry once`, param);
  });
  return v;
}

function checkModel(v, param) {
  if (typeof v !== 'string' || v === '') throw invalid('invalid_type', `${param} must be a model name, got ${describe(v)}`, param);
  if (!options.models.has(v)) throw invalid('unknown_model', `${param}: ${JSON.stringify(v)} is not a model this server serves`, param);
}

// Canonical web origin per the WHATWG URL Standard: the input must equal new URL(input).origin.
function checkOrigin(v, param) {
  if (typeof v !== 'string') throw invalid('invalid_type', `${param} must be a string (an origin such as "https://app.example.com"), got ${describe(v)}`, param);
  if (v.length > LIMITS.maxOriginLength) throw invalid('origin_too_long', `${param} is ${v.length} characters long; an origin has at most ${LIMITS.maxOriginLength}`, param);
  let url;
  try {
    url = new URL(v);
  } catch {
    throw invalid('invalid_origin', `${JSON.stringify(v)} is not a valid origin: an origin is a scheme, a host and an optional port, such as "https://app.example.com" or "http://localhost:3000"`, param);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('invalid_origin', `${JSON.stringify(v)} is not a valid origin (not an http or https URL)`, param);
  }
  if (url.origin !== v) throw invalid('origin_not_canonical', `${JSON.stringify(v)} is not a canonical origin: use ${JSON.stringify(url.origin)}`, param);
}

function depth(v) {
  if (!v || typeof v !== 'object') return 0;
  let deepest = 0;
  for (const child of Object.values(v)) deepest = Math.max(deepest, depth(child));
  return deepest + 1;
}

function parseMintOptions(body) {
  const out = { expiresIn: LIMITS.defaultExpiresIn };
  if (body.trim() === '') return out;
  let o;
  try {
    o = JSON.parse(body);
  } catch (e) {
    throw invalid('invalid_json', `the request body is not valid JSON: ${e.message}`);
  }
  if (!isObject(o)) throw invalid('invalid_body', `the request body must be a JSON object of options (or empty), got ${describe(o)}`);
  for (const key of Object.keys(o)) {
    if (!TOKEN_FIELDS.includes(key)) throw invalid('unknown_field', `unknown field ${JSON.stringify(key)}; allowed fields are: ${TOKEN_FIELDS.join(', ')}`, key);
  }
  if (o.expiresIn != null) out.expiresIn = readInteger(o.expiresIn, 'expiresIn', LIMITS.minExpiresIn, LIMITS.maxExpiresIn);
  if (o.allowedModels != null) out.models = readList(o.allowedModels, 'allowedModels', LIMITS.maxModels, checkModel);
  if (o.allowedOrigins != null) out.origins = readList(o.allowedOrigins, 'allowedOrigins', LIMITS.maxOrigins, checkOrigin);
  if (o.constraints != null) {
    const c = o.constraints;
    if (!isObject(c)) throw invalid('invalid_type', `constraints must be an object, got ${describe(c)}`, 'constraints');
    for (const key of Object.keys(c)) {
      if (key !== 'realtime') throw invalid('unknown_field', `unknown field "constraints.${key}"; allowed fields in constraints are: realtime`, `constraints.${key}`);
    }
    if (c.realtime != null) {
      if (!isObject(c.realtime)) throw invalid('invalid_type', `constraints.realtime must be an object, got ${describe(c.realtime)}`, 'constraints.realtime');
      for (const key of Object.keys(c.realtime)) {
        if (key !== 'maxSessionDuration') throw invalid('unknown_field', `unknown field "constraints.realtime.${key}"; allowed fields in constraints.realtime are: maxSessionDuration`, `constraints.realtime.${key}`);
      }
      const d = c.realtime.maxSessionDuration;
      if (d != null) out.maxSessionDuration = readInteger(d, 'constraints.realtime.maxSessionDuration', LIMITS.minSessionDuration, LIMITS.maxSessionDuration);
    }
  }
  if (o.metadata != null) {
    const m = o.metadata;
    if (!isObject(m)) throw invalid('invalid_type', `metadata must be a JSON object of key-value pairs, got ${describe(m)}`, 'metadata');
    const bytes = Buffer.byteLength(JSON.stringify(m));
    if (Object.keys(m).length > LIMITS.maxMetadataKeys || depth(m) > LIMITS.maxMetadataDepth || bytes > LIMITS.maxMetadataBytes) {
      throw invalid('metadata_too_large', `metadata may have at most ${LIMITS.maxMetadataKeys} top-level keys, ${LIMITS.maxMetadataDepth} levels of nesting and ${LIMITS.maxMetadataBytes} bytes as JSON`, 'metadata');
    }
    out.metadata = m;
  }
  return out;
}

// ---- POST /v1/client/tokens ------------------------------------------------------------------------
function authenticate(req) {
  let presented = req.headers['x-api-key'];
  if (!presented) {
    const m = /^bearer (.+)$/i.exec(req.headers.authorization ?? '');
    if (m) presented = m[1];
  }
  if (!presented) throw new ApiError(401, 'authentication_error', 'missing_api_key', 'Missing API key: send your permanent key in the X-API-KEY header (or Authorization: Bearer)');
  if (presented.startsWith('ek_')) throw new ApiError(403, 'permission_error', 'client_token_cannot_mint', 'Client tokens (ek_…) have limited scope and cannot mint tokens: use a permanent sk_ key');
  if (!timingSafeEqual(sha256(presented), permanentKeyHash)) throw new ApiError(401, 'authentication_error', 'invalid_api_key', 'Invalid API key');
}

const rfc3339 = (seconds) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function mint(req, body) {
  authenticate(req);
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (body.trim() !== '' && type !== 'application/json') {
    throw new ApiError(415, 'invalid_request_error', 'unsupported_media_type', 'the request body must be JSON (Content-Type: application/json)');
  }
  const o = parseMintOptions(body);
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + o.expiresIn;
  const jti = randomBytes(16).toString('base64url');
  const claims = {};
  if (o.models) claims.models = o.models;
  if (o.origins) claims.origins = o.origins;
  if (o.maxSessionDuration) claims.max_session_duration = o.maxSessionDuration;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid })
    .setIssuer(publicUrl).setAudience(publicUrl).setSubject(keyId).setJti(jti)
    .setIssuedAt(iat).setExpirationTime(exp)
    .sign(privateKey);
  if (o.metadata) metadataByJti.set(jti, { metadata: o.metadata, exp });
  const permissions = o.models || o.origins ? { ...(o.models && { models: o.models }), ...(o.origins && { origins: o.origins }) } : null;
  const constraints = o.maxSessionDuration ? { realtime: { maxSessionDuration: o.maxSessionDuration } } : null;
  return { kind: 'token', apiKey: 'ek_' + token, token, expiresAt: rfc3339(exp), permissions, constraints };
}

function handleRequest(req, res) {
  const path = req.url.split('?')[0];
  if (path === '/.well-known/jwks.json' && req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' });
    return res.end(jwks);
  }
  if (path !== '/v1/client/tokens') return sendError(res, new ApiError(404, 'invalid_request_error', 'not_found', 'Not found'));
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    return sendError(res, new ApiError(405, 'invalid_request_error', 'method_not_allowed', 'Use POST'));
  }
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > LIMITS.maxBodyBytes) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on('end', () => {
    if (tooLarge) return sendError(res, new ApiError(413, 'invalid_request_error', 'body_too_large', `the request body is larger than ${LIMITS.maxBodyBytes} bytes`));
    mint(req, Buffer.concat(chunks).toString('utf8')).then(
      (answer) => sendJson(res, 200, answer),
      (e) => (e instanceof ApiError ? sendError(res, e) : sendError(res, new ApiError(500, 'api_error', 'internal_error', 'Internal error'))),
    );
  });
}

// ---- GET /v1/stream: the door -------------------------------------------------------------------------
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: LIMITS.maxMessageBytes });

// Checks in the door's order (docs/API.md, "Admission"); returns the verified claims or throws the refusal's message.
async function admit(req, url) {
  let credential = url.searchParams.get('api_key') ?? url.searchParams.get('token') ?? '';
  if (credential.startsWith('ek_')) credential = credential.slice(3);
  let payload;
  try {
    ({ payload } = await jwtVerify(credential, publicKey, {
      algorithms: ['EdDSA'], issuer: publicUrl, audience: publicUrl, clockTolerance: LIMITS.leewaySeconds,
      requiredClaims: ['exp', 'jti', 'sub'],
    }));
  } catch (e) {
    throw new Error(e instanceof joseErrors.JWTExpired ? 'Token expired' : 'Invalid API key');
  }
  const model = url.searchParams.get('model') ?? '';
  if (!options.models.has(model)) throw new Error('Unknown model');
  if (payload.models && !payload.models.includes(model)) throw new Error('Model not allowed');
  if (payload.origins && !payload.origins.includes(req.headers.origin)) throw new Error('Origin not allowed');
  return { payload, model };
}

// Close codes that may be sent on (1005, 1006 and 1015 only describe what happened).
const sendable = (code) => (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999);

// Frames from `from` to `to`, text as text and binary as binary; `from` is paused while more
// than 1 MiB waits to be written to `to`.
function pipe(from, to) {
  from.on('message', (data, isBinary) => {
    if (to.readyState !== WebSocket.OPEN) return;
    to.send(data, { binary: isBinary }, () => {
      if (from.isPaused && to.bufferedAmount < 256 * 1024) from.resume();
    });
    if (to.bufferedAmount > 1024 * 1024) from.pause();
  });
  from.on('close', (code, reason) => {
    if (to.readyState === WebSocket.OPEN || to.readyState === WebSocket.CONNECTING) {
      if (sendable(code)) to.close(code, reason);
      else to.close(1000);
    }
  });
}

function relay(client, route, payload) {
  client.pause();  // nothing is read from the client until the upstream is there
  const headers = { 'X-Bouncer-Key-Id': payload.sub, 'X-Bouncer-Token-Id': payload.jti };
  if (upstreamSecret) headers['X-Bouncer-Upstream-Secret'] = upstreamSecret;
  const meta = metadataByJti.get(payload.jti);
  if (meta) headers['X-Bouncer-Metadata'] = JSON.stringify(meta.metadata).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const upstream = new WebSocket(route, { headers, perMessageDeflate: false, maxPayload: LIMITS.maxMessageBytes, handshakeTimeout: 10_000 });
  upstream.on('open', () => {
    pipe(client, upstream);
    pipe(upstream, client);
    client.resume();
  });
  upstream.on('error', () => {
    if (client.readyState === WebSocket.OPEN) {
      client.send(JSON.stringify({ type: 'error', error: 'Upstream unavailable' }));
      client.close(1011, 'Upstream unavailable');
    }
  });
  client.on('error', () => upstream.terminate());
  client.on('close', () => {
    if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
  });
  if (payload.max_session_duration) {
    const timer = setTimeout(() => {
      if (client.readyState === WebSocket.OPEN) {
        client.send(JSON.stringify({ type: 'session_ended', reason: 'maxSessionDuration reached' }));
        client.close(1000, 'Session ended');
      }
    }, payload.max_session_duration * 1000);
    client.on('close', () => clearTimeout(timer));
  }
}

function handleUpgrade(req, socket, head) {
  socket.on('error', () => socket.destroy());
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/v1/stream') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  admit(req, url).then(
    ({ payload, model }) => wss.handleUpgrade(req, socket, head, (client) => relay(client, options.models.get(model), payload)),
    // A browser sees nothing of a refused HTTP upgrade: accept, say why in a message, close 1008.
    (e) => wss.handleUpgrade(req, socket, head, (client) => {
      client.send(JSON.stringify({ type: 'error', error: e.message }));
      client.close(1008, e.message);
    }),
  );
}

// ---- start --------------------------------------------------------------------------------------------
const server = http.createServer({ keepAliveTimeout: 30_000, headersTimeout: 10_000 }, handleRequest);
server.on('upgrade', handleUpgrade);
server.maxConnections = 30000;
const [host, port] = [options.listen.slice(0, options.listen.lastIndexOf(':')), Number(options.listen.slice(options.listen.lastIndexOf(':') + 1))];
let publicUrl = options.publicUrl;
server.listen({ host, port, backlog: 4096 }, () => {
  const bound = server.address();
  publicUrl ??= `http://${host}:${bound.port}`;
  if (options.portFile) {
    writeFileSync(options.portFile + '.tmp', String(bound.port));
    renameSync(options.portFile + '.tmp', options.portFile);
  }
  console.log(`listening on ${host}:${bound.port}`);
});
const stop = () => {
  for (const client of wss.clients) client.close(1001, 'Server shutting down');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
