// Credentials must never reach an Error message or a log line: an error is often printed,
// reported to an error tracker or shown on a page. Every message this package builds goes
// through redact(), which hides whatever looks like a Bouncer credential, in the same forms the
// server itself hides them (docs/API.md, "Errors"): sk_…, ek_…, adm_…, whsec_… keys, bare JWTs,
// credentials in a URL's query and in a `bouncer.key.…` subprotocol.

const PREFIXED_KEY = /\b(sk|ek|adm|whsec)_[A-Za-z0-9._~+/=-]+/g;
const BARE_JWT = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?/g;
const QUERY_CREDENTIAL = /([?&](?:api_key|token)=)[^&#\s'"]+/g;
const PROTOCOL_CREDENTIAL = /bouncer\.key\.[^\s,'"\]]+/g;

function escapeForRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// `secrets`: exact strings to hide as well (a credential of an unusual shape).
export function redact(text, secrets = []) {
  let out = String(text)
    .replace(PROTOCOL_CREDENTIAL, 'bouncer.key.REDACTED')
    .replace(QUERY_CREDENTIAL, '$1REDACTED')
    .replace(PREFIXED_KEY, '$1_REDACTED')
    .replace(BARE_JWT, 'REDACTED');
  for (const secret of secrets) {
    if (typeof secret === 'string' && secret.length >= 8) {
      out = out.replace(new RegExp(escapeForRegExp(secret), 'g'), 'REDACTED');
    }
  }
  return out;
}
