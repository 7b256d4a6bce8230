// Test harness for the bouncer binary: start and stop real servers on 127.0.0.1, run CLI
// sub-commands, send real HTTP requests. Every process started here is killed when its test
// ends (t.after / the caller's after hook) and, as a last resort, when this Node process exits.
//
// The binary: $BOUNCER_BIN (ctest sets it), else build/dev/bouncer of this repository.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const JS_ROOT = path.resolve(here, '..');
export const REPO_ROOT = path.resolve(JS_ROOT, '..', '..');

// An sk_ secret (not global: safe with .test and assert.match).
export const SK_RE = /sk_[A-Za-z0-9_-]{43}/;

export const BOUNCER_BIN = process.env.BOUNCER_BIN || path.join(REPO_ROOT, 'build', 'dev', 'bouncer');
if (!existsSync(BOUNCER_BIN)) {
  throw new Error(
    `bouncer binary not found at ${BOUNCER_BIN}: build it (cmake --preset dev && cmake --build build/dev --target bouncer) ` +
      'or set BOUNCER_BIN',
  );
}

// Under ASan on a loaded 2-core machine a start takes ~1 s; leave plenty of room.
export const START_TIMEOUT_MS = 30_000;
export const CLI_TIMEOUT_MS = 30_000;
export const STOP_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// Last-resort cleanup: whatever is still running when Node exits gets SIGKILL.
const live = new Set();
function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killAll);
// Interrupted (Ctrl-C, a runner's time limit): take the servers down with us.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[signal]);
  });
}

// ---------------------------------------------------------------------------------------------
// Dependencies from the npm registry (tests/js/node_modules): a missing install is a failure
// with a message that says what to do, never a silent skip.
export async function importDep(name) {
  const install = 'run scripts/install-deps (or: cd tests/js && npm ci)';
  const pinned = JSON.parse(readFileSync(path.join(JS_ROOT, 'package.json'), 'utf8')).devDependencies?.[name];
  if (!pinned) throw new Error(`${name} is not a devDependency of tests/js/package.json`);
  const manifest = path.join(JS_ROOT, 'node_modules', ...name.split('/'), 'package.json');
  if (!existsSync(manifest)) {
    throw new Error(`${name} is not installed (tests/js/node_modules is missing or incomplete): ${install}`);
  }
  const installed = JSON.parse(readFileSync(manifest, 'utf8')).version;
  if (installed !== pinned) {
    throw new Error(`${name} ${installed} is installed but tests/js/package.json pins ${pinned}: ${install}`);
  }
  return import(name);
}

export function requireTool(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name} is not installed: run scripts/install-deps`);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------------------------
// Small utilities.

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// `promise`, or a rejection naming `what` after `ms` (the timer does not keep Node alive).
export function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls `fn` every `intervalMs` until it returns a truthy value; throws after `timeoutMs`.
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

export function tempDir(prefix = 'bouncer-test-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

// A port that was free a moment ago (bind 0, read, close).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// The environment for a child: ours without any BOUNCER_* variable (so the caller's shell
// cannot change what a test means), plus `extra`.
export function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('BOUNCER_')) env[k] = v;
  }
  return { ...env, ...extra };
}

export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

export function writeToml(dir, text, name = 'bouncer.toml') {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

// ---------------------------------------------------------------------------------------------
// CLI.

// Runs `bouncer ...args`; resolves {code, signal, stdout, stderr, endedAt} (never rejects on a
// non-zero exit). Killed after `timeoutMs`.
export function runCli(args, { env = {}, timeoutMs = CLI_TIMEOUT_MS, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BOUNCER_BIN, args, { env: childEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bouncer ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    // 'exit' (not 'close'): the moment the process ended, for latency measurements. Output
    // is complete by 'close', which follows at once.
    let endedAt;
    child.on('exit', () => {
      endedAt = performance.now();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, endedAt: endedAt ?? performance.now() });
    });
  });
}

// `bouncer keys create --name NAME` → the secret.
export async function createKey(dataDir, name) {
  const r = await runCli(['keys', 'create', '--name', name, '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`keys create failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

export async function listKeys(dataDir) {
  const r = await runCli(['keys', 'list', '--json', '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`keys list failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// ---------------------------------------------------------------------------------------------
// Servers.

export class Server {
  // `wrapper`: a command that runs the server in its place by exec (e.g. ['prlimit',
  // '--nofile=256:256', '--']), so the process and its pid stay the server's.
  constructor({ args, env, dataDir, tempRoot, tls, wrapper = [] }) {
    this.args = args;
    this.tls = tls; // {ca}: the server speaks TLS and `ca` (PEM) verifies it
    this.dataDir = dataDir;
    this.tempRoot = tempRoot; // removed by cleanup() when the harness made the data dir
    this.stdout = '';
    this.stderr = '';
    this.exit = null; // {code, signal} once exited
    const [command, ...argv] = [...wrapper, BOUNCER_BIN, ...args];
    this.child = spawn(command, argv, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    this.child.stdout.setEncoding('utf8').on('data', (d) => (this.stdout += d));
    this.child.stderr.setEncoding('utf8').on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.stderr += `\n[harness] spawn error: ${e.message}`;
        this.exit = { code: null, signal: null, error: e };
        live.delete(this.child);
        resolve(this.exit);
      });
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this.child);
        resolve(this.exit);
      });
    });
  }

  get pid() {
    return this.child.pid;
  }

  get base() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  // The admin listener (/metrics, /healthz, /readyz); undefined when it is off.
  get adminBase() {
    return this.adminPort ? `http://127.0.0.1:${this.adminPort}` : undefined;
  }

  get dbPath() {
    return path.join(this.dataDir, 'bouncer.db');
  }

  logs() {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  // Resolves the first time `re` matches the captured stream; rejects if the process exits or
  // the time runs out first.
  async waitForOutput(re, { stream = 'stderr', timeoutMs = START_TIMEOUT_MS } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this[stream].match(re);
      if (m) return m;
      if (this.exit) {
        throw new Error(`server exited (${JSON.stringify(this.exit)}) before printing ${re}\n${this.logs()}`);
      }
      if (Date.now() > deadline) throw new Error(`server did not print ${re} within ${timeoutMs} ms\n${this.logs()}`);
      await sleep(25);
    }
  }

  // Waits for the "listening" log line (text or JSON), then for /healthz to answer 200.
  async ready() {
    const m = await this.waitForOutput(/listening address=127\.0\.0\.1:(\d+)|"event":"listening","address":"127\.0\.0\.1:(\d+)"/);
    this.port = Number(m[1] ?? m[2]);
    // The same line names the admin listener's address (or "off").
    const admin = this.stderr.match(/admin_address=127\.0\.0\.1:(\d+)|"admin_address":"127\.0\.0\.1:(\d+)"/);
    this.adminPort = admin ? Number(admin[1] ?? admin[2]) : undefined;
    await waitFor(
      async () => {
        if (this.exit) throw new Error(`server exited: ${JSON.stringify(this.exit)}\n${this.logs()}`);
        const r = await request(this.base, { path: '/healthz', timeoutMs: 2000, ca: this.tls?.ca });
        return r.status === 200;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 50, what: `GET ${this.base}/healthz` },
    );
    return this;
  }

  // The "default" key printed on the first start of an empty data dir.
  async defaultKey() {
    const m = await this.waitForOutput(/sk_[A-Za-z0-9_-]{43}/, { stream: 'stdout' });
    return m[0];
  }

  // SIGTERM, then SIGKILL if still alive after `timeoutMs`. Resolves {code, signal}.
  async stop({ signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS } = {}) {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  async kill9() {
    if (this.exit) return this.exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  // Stops the process and removes the data dir if this harness made it.
  async cleanup() {
    await this.stop();
    if (this.tempRoot) rmSync(this.tempRoot, { recursive: true, force: true });
  }
}

// Starts `bouncer serve`. Options:
//   t          node:test context: cleanup is registered with t.after (recommended)
//   dataDir    reuse a data dir (not removed by cleanup); default a fresh temp dir, removed by
//              cleanup (so stop the servers that reuse it before the one that made it ends)
//   port       listen on this port (default 0: the server picks, the harness reads its log)
//   listen     false: pass no --listen at all (config precedence tests)
//   admin      --admin-listen: default 127.0.0.1:0 (a free port, read from the log into
//              server.adminPort), since the default port would be shared by every test; 'off';
//              or null to pass no --admin-listen at all
//   args, env  extra flags / BOUNCER_* variables
//   wait       false: do not wait for readiness (tests of refusals to start)
//   tls        {ca}: the server is started with TLS (its flags in args/env); readiness and
//              server.base use https://, verified with the PEM `ca`
//   wrapper    a command that execs the server (see Server), e.g. prlimit for a low open-file limit
export async function startServer({
  t,
  dataDir,
  port = 0,
  listen = true,
  admin = '127.0.0.1:0',
  args = [],
  env = {},
  wait = true,
  tls,
  wrapper,
} = {}) {
  const tempRoot = dataDir ? undefined : tempDir();
  const dir = dataDir ?? path.join(tempRoot, 'data');
  const argv = ['serve', '--data-dir', dir];
  if (listen) argv.push('--listen', `127.0.0.1:${port}`);
  if (admin !== null) argv.push('--admin-listen', admin);
  argv.push(...args);
  const server = new Server({ args: argv, env, dataDir: dir, tempRoot, tls, wrapper });
  if (t) t.after(() => server.cleanup());
  if (wait) {
    try {
      await server.ready();
    } catch (e) {
      if (!t) await server.cleanup();
      throw e;
    }
  }
  return server;
}

// ---------------------------------------------------------------------------------------------
// HTTP.

// One HTTP request with node:http (node:https for an https:// base, trusting the PEM `ca`);
// resolves {status, headers, text, json} (json undefined when the body is not JSON). `body` is
// sent as is (string/Buffer) or JSON-encoded (object).
export function request(base, { method = 'GET', path: p = '/', headers = {}, body, agent, ca, timeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(p, base);
    let payload;
    const h = { ...headers };
    if (body !== undefined) {
      payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type') && typeof body === 'object' && !Buffer.isBuffer(body)) {
        h['Content-Type'] = 'application/json';
      }
      h['Content-Length'] = Buffer.byteLength(payload);
    }
    const client = url.protocol === 'https:' ? https : http;
    const tlsOptions = url.protocol === 'https:' ? { ca } : {};
    const req = client.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: h, agent: agent ?? false, ...tlsOptions },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// POST /v1/client/tokens with `key` in X-API-KEY (or as given in `headers`).
export function mint(base, key, body, { headers = {}, agent, ca, timeoutMs } = {}) {
  const h = key === undefined ? { ...headers } : { 'X-API-KEY': key, ...headers };
  return request(base, { method: 'POST', path: '/v1/client/tokens', headers: h, body, agent, ca, timeoutMs });
}

// POST /v1/client/urls (a signed WebSocket URL bound to one model) with `key` in X-API-KEY.
export function mintUrl(base, key, body, { headers = {}, agent, ca, timeoutMs } = {}) {
  const h = key === undefined ? { ...headers } : { 'X-API-KEY': key, ...headers };
  return request(base, { method: 'POST', path: '/v1/client/urls', headers: h, body, agent, ca, timeoutMs });
}

// The ws:// form of an http:// base (wss:// of https://): where /v1/stream is opened.
export function wsBase(base) {
  return base.replace(/^http/, 'ws');
}

// Sends raw bytes on a fresh TCP connection and collects whatever comes back until the server
// closes (or resets) the connection. For requests node:http will not send as they are.
export function rawRequest(port, bytes, { timeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      if (!text && err) return reject(err);
      resolve(parseRawResponse(text));
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    socket.on('error', (e) => finish(e)); // a reset after the answer still leaves the answer
    socket.on('connect', () => socket.write(bytes, () => {}));
  });
}

function parseRawResponse(text) {
  const sep = text.indexOf('\r\n\r\n');
  const head = sep >= 0 ? text.slice(0, sep) : text;
  const body = sep >= 0 ? text.slice(sep + 4) : '';
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status, headers, text: body, json, raw: text };
}
