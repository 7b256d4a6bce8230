// An example backend for @bouncer/client: serves index.html and the client package, and mints
// credentials for the page with the permanent key, which never leaves this process.
//
//   POST /api/credential       mints with plain fetch (POST /v1/client/tokens, docs/API.md)
//   POST /api/credential-sdk   mints with @decartai/sdk pointed at Bouncer (its tokens.create())
//
// Both answer a ClientCredential: {"kind":"token","token":"ek_…","expiresAt":"…"}, scoped to the
// model, to the page's Origin, and capped at SESSION_CAP_SECONDS per session (the page renews).
//
//   BOUNCER_URL=http://127.0.0.1:8080 BOUNCER_SK=sk_… node examples/js/backend.mjs
//
// Environment: BOUNCER_URL (default http://127.0.0.1:8080), BOUNCER_SK (required), PORT (default
// 3000; 0 picks a free one), MODEL (default echo), SESSION_CAP_SECONDS (default 60, at least 10).
// It listens on 127.0.0.1 only and prints "listening http://127.0.0.1:PORT".
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const clientSrc = path.join(repoRoot, 'clients', 'js', 'src');

const bouncerUrl = (process.env.BOUNCER_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const secretKey = process.env.BOUNCER_SK;
const model = process.env.MODEL ?? 'echo';
const sessionCapSeconds = Number(process.env.SESSION_CAP_SECONDS ?? 60);
if (!secretKey?.startsWith('sk_')) {
  console.error('set BOUNCER_SK to a permanent key (sk_…): bouncer keys create --name example');
  process.exit(2);
}

// What every credential of this example allows: one model, from the page's origin, for a minute
// of starting sessions, each session capped (the page renews before the cap).
function mintOptions(origin) {
  return {
    expiresIn: 60,
    allowedModels: [model],
    ...(origin ? { allowedOrigins: [origin] } : {}),
    constraints: { realtime: { maxSessionDuration: sessionCapSeconds } },
  };
}

// Minting with nothing but fetch: the whole wire is one POST.
async function mintWithFetch(origin) {
  const res = await fetch(`${bouncerUrl}/v1/client/tokens`, {
    method: 'POST',
    headers: { 'X-API-KEY': secretKey, 'Content-Type': 'application/json' },
    body: JSON.stringify(mintOptions(origin)),
  });
  const body = await res.json();
  if (!res.ok) throw Object.assign(new Error(body?.error?.message ?? `Bouncer answered ${res.status}`), { status: res.status });
  return { kind: 'token', token: body.apiKey, expiresAt: body.expiresAt };
}

// Minting with the public @decartai/sdk, which speaks the same wire. It is a devDependency of
// tests/js (installed by scripts/install-deps); in your own project, install it next to this file.
let decartClient;
async function sdkClient() {
  if (decartClient) return decartClient;
  let sdk;
  try {
    sdk = await import('@decartai/sdk');
  } catch {
    const fromTests = createRequire(path.join(repoRoot, 'tests', 'js', 'package.json'));
    sdk = await import(pathToFileURL(fromTests.resolve('@decartai/sdk')).href);
  }
  decartClient = sdk.createDecartClient({ apiKey: secretKey, baseUrl: bouncerUrl });
  return decartClient;
}

async function mintWithSdk(origin) {
  const { apiKey, expiresAt } = await (await sdkClient()).tokens.create(mintOptions(origin));
  return { kind: 'token', token: apiKey, expiresAt };
}

const STATIC = {
  '/': { file: path.join(here, 'index.html'), type: 'text/html; charset=utf-8' },
};

async function serveFile(res, file, type) {
  res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(await readFile(file));
}

function answerJson(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(value));
}

async function handle(req, res) {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && STATIC[pathname]) return serveFile(res, STATIC[pathname].file, STATIC[pathname].type);
  // The package, as the page imports it: /clients/js/src/index.js and its siblings.
  if (req.method === 'GET' && /^\/clients\/js\/src\/[a-z_]+\.js$/.test(pathname)) {
    return serveFile(res, path.join(clientSrc, path.basename(pathname)), 'text/javascript; charset=utf-8');
  }
  // Where the page's WebSocket goes: Bouncer itself, not this backend.
  if (req.method === 'GET' && pathname === '/api/config') return answerJson(res, 200, { bouncerUrl, model });
  const minters = { '/api/credential': mintWithFetch, '/api/credential-sdk': mintWithSdk };
  if (req.method === 'POST' && minters[pathname]) {
    // A real backend checks its own user's session here before minting anything.
    try {
      return answerJson(res, 200, await minters[pathname](req.headers.origin));
    } catch (error) {
      console.error(`mint failed: ${error.message}`);
      return answerJson(res, 502, { error: 'could not get a credential' });
    }
  }
  res.writeHead(404).end();
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(error);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
