// Client credentials, the two kinds a backend mints (docs/API.md): {kind:"token", token,
// expiresAt}, where `token` is the ek_… key or the bare JWT, and {kind:"url", url, expiresAt},
// a signed WebSocket URL opened as it is. And where the door (GET /v1/stream) is, for each.
import { BouncerError } from './errors.js';

const RESUME_ID = /^[A-Za-z0-9_-]{16,64}$/;

export function assertCredential(credential) {
  const kind = credential?.kind;
  if (kind === 'token' && typeof credential.token === 'string' && credential.token !== '') return credential;
  if (kind === 'url' && typeof credential.url === 'string' && credential.url !== '') return credential;
  throw new TypeError(
    'A credential is {kind:"token", token, expiresAt} or {kind:"url", url, expiresAt}, as minted by mintToken or mintUrl',
  );
}

// The token a credential carries: what goes into a bouncer.renew message. A signed URL holds
// its JWT in the `token` query parameter.
export function credentialToken(credential) {
  if (credential.kind === 'token') return credential.token;
  const params = new URL(credential.url).searchParams;
  const token = params.get('token') || params.get('api_key');
  if (!token) throw new BouncerError('The signed URL holds no token parameter', { code: 'invalid_credential' });
  return token;
}

// Expired by its own expiresAt (the server allows some clock skew beyond it, but a credential
// past its time is not worth a round trip when a fresh one can be had).
export function isExpired(credential, now = Date.now()) {
  const at = Date.parse(credential.expiresAt ?? '');
  return Number.isFinite(at) && now >= at;
}

// A permanent key in a page is a leaked key: anyone who opens the page can read it.
export function refuseSecretKeyInBrowser(secret, dangerouslyAllowBrowser) {
  const browserLike = typeof globalThis.window !== 'undefined' && typeof globalThis.window?.document !== 'undefined';
  if (browserLike && !dangerouslyAllowBrowser && typeof secret === 'string' && secret.startsWith('sk_')) {
    throw new BouncerError(
      'A permanent sk_ key must stay on your server: mint a client token there and give the page that ' +
        '(pass dangerouslyAllowBrowser: true only if this page is not public)',
      { code: 'secret_key_in_browser' },
    );
  }
}

export function assertResumeId(id) {
  if (typeof id !== 'string' || !RESUME_ID.test(id)) {
    throw new TypeError('resume must be true or an id of 16 to 64 characters among A-Z a-z 0-9 _ -');
  }
  return id;
}

// 16 random bytes as base64url: 22 characters, within the door's 16–64.
export async function generateResumeId() {
  const bytes = new Uint8Array(16);
  const crypto = globalThis.crypto?.getRandomValues ? globalThis.crypto : (await import('node:crypto')).webcrypto;
  crypto.getRandomValues(bytes);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// ws:// or wss:// from a server's base URL given as ws(s):// or http(s)://, without a trailing
// slash; a path prefix (a proxy's) is kept.
export function webSocketBase(baseUrl) {
  let url;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError('baseUrl must be an absolute URL such as https://bouncer.example.com');
  }
  const schemes = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  if (!schemes[url.protocol]) throw new TypeError('baseUrl must be an http(s):// or ws(s):// URL');
  url.protocol = schemes[url.protocol];
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

// http:// or https:// from a base URL given as either form: where the mint routes are.
export function httpBase(baseUrl) {
  return webSocketBase(baseUrl).replace(/^ws/, 'http');
}

// What to open for one attempt: {url, protocols}. A token goes as a `bouncer.key.` subprotocol
// (with `bouncer.v1`, which Bouncer answers when the model picks no protocol of its own: a
// browser fails a connection whose offered protocols get no answer) unless the caller asked for
// the query; a signed URL is opened as it is.
export function streamTarget(credential, { model, baseUrl, protocols = [], credentialIn = 'protocol', resumeId }) {
  if (credential.kind === 'url') {
    const separator = credential.url.includes('?') ? '&' : '?';
    return { url: resumeId ? `${credential.url}${separator}resume=${resumeId}` : credential.url, protocols: [...protocols] };
  }
  if (!baseUrl) throw new TypeError('connect() needs baseUrl for a credential of kind "token"');
  if (!model) throw new TypeError('connect() needs model for a credential of kind "token"');
  const url = new URL(`${webSocketBase(baseUrl)}/v1/stream`);
  url.searchParams.set('model', model);
  if (resumeId) url.searchParams.set('resume', resumeId);
  if (credentialIn === 'query') {
    url.searchParams.set('api_key', credential.token);
    return { url: url.toString(), protocols: [...protocols] };
  }
  if (credentialIn !== 'protocol') throw new TypeError('credentialIn must be "protocol" or "query"');
  const others = protocols.filter((p) => p !== 'bouncer.v1');
  return { url: url.toString(), protocols: [`bouncer.key.${credential.token}`, 'bouncer.v1', ...others] };
}

// The session cap a token carries (its `max_session_duration` claim, seconds), or null. The
// JWT's payload is readable by anyone; nothing here trusts it beyond showing a deadline.
export function sessionCapSeconds(token) {
  try {
    const jwt = token.startsWith('ek_') ? token.slice(3) : token;
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload + '='.repeat((4 - (payload.length % 4)) % 4)));
    return Number.isInteger(claims.max_session_duration) ? claims.max_session_duration : null;
  } catch {
    return null;
  }
}
