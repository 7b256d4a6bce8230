// The backend's half: trade the permanent key (sk_…) for a client credential, on your server,
// and hand the credential to the browser (docs/API.md, "POST /v1/client/tokens" and
// "POST /v1/client/urls"). Every option other than those below goes into the request body as it
// is (expiresIn, allowedModels, allowedOrigins, constraints, metadata, maxUses, model): the
// server checks them strictly and says what is wrong.
import { httpBase, refuseSecretKeyInBrowser } from './credential.js';
import { MintError } from './errors.js';

// Options of this package's own, never sent to the server.
const CLIENT_OPTIONS = new Set(['baseUrl', 'apiKey', 'fetch', 'signal', 'headers', 'dangerouslyAllowBrowser']);

export async function mintToken(options = {}) {
  const body = await post('/v1/client/tokens', options);
  return { kind: 'token', token: body.apiKey, expiresAt: body.expiresAt };
}

export async function mintUrl(options = {}) {
  if (typeof options.model !== 'string' || options.model === '') {
    throw new TypeError('mintUrl needs model: the model the signed URL opens');
  }
  const body = await post('/v1/client/urls', options);
  return { kind: 'url', url: body.url, expiresAt: body.expiresAt };
}

function requestBody(options) {
  const body = {};
  for (const [name, value] of Object.entries(options)) {
    if (!CLIENT_OPTIONS.has(name) && value !== undefined) body[name] = value;
  }
  return body;
}

async function post(path, options) {
  const { baseUrl, apiKey, signal, headers = {}, dangerouslyAllowBrowser = false } = options;
  if (!baseUrl) throw new TypeError('baseUrl is required: the address of your Bouncer server');
  if (typeof apiKey !== 'string' || apiKey === '') throw new TypeError('apiKey is required: your permanent sk_ key');
  refuseSecretKeyInBrowser(apiKey, dangerouslyAllowBrowser);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('No fetch available: pass {fetch}');
  const secrets = [apiKey];

  let response;
  try {
    response = await fetchImpl(`${httpBase(baseUrl)}${path}`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json', 'X-API-KEY': apiKey },
      body: JSON.stringify(requestBody(options)),
      signal,
    });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED…) is its cause's.
    const why = [error?.message ?? String(error), error?.cause?.message].filter(Boolean).join(': ');
    throw new MintError({ status: 0, code: 'network_error', message: `Bouncer did not answer: ${why}`, cause: error, secrets });
  }
  const text = await response.text();
  const json = parseJson(text);
  if (response.ok && json && typeof json === 'object') return json;
  throw mintErrorFrom(response, json, secrets);
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function mintErrorFrom(response, json, secrets) {
  const error = json?.error;
  return new MintError({
    status: response.ok ? 502 : response.status,
    type: error?.type ?? null,
    code: error?.code ?? (response.ok ? 'invalid_response' : 'http_error'),
    param: error?.param ?? null,
    message: error?.message ?? `Bouncer answered ${response.status} without an error body`,
    retryAfterSeconds: retryAfterSeconds(response.headers.get('retry-after')),
    secrets,
  });
}

// Retry-After as seconds: a whole number of seconds, or an HTTP date (RFC 9110 §10.2.3).
export function retryAfterSeconds(value, now = Date.now()) {
  if (value === null || value === undefined || value === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : null;
}
