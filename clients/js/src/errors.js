// The errors this package raises. Each message is redacted (./redact.js), and so is the message
// of any error kept as `cause`: a WebSocket constructor's error, for one, quotes the URL it was
// given, credential included.
import { redact } from './redact.js';

// A copy of `error` whose message (and name) is safe to show; the original is dropped.
function safeCause(error, secrets) {
  if (error === undefined || error === null) return undefined;
  const copy = new Error(redact(error?.message ?? String(error), secrets));
  if (typeof error?.name === 'string') copy.name = error.name;
  return copy;
}

export class BouncerError extends Error {
  // `options.cause`: the error behind this one (redacted); `options.secrets`: exact strings to
  // hide besides the credential shapes redact() knows.
  constructor(message, { cause, secrets = [], code } = {}) {
    const safe = safeCause(cause, secrets);
    super(redact(message, secrets), safe ? { cause: safe } : undefined);
    this.name = 'BouncerError';
    if (code !== undefined) this.code = code;
  }
}

// A mint (POST /v1/client/tokens or /v1/client/urls) that did not succeed. `status` is the HTTP
// status (0: no answer at all), `code`, `type` and `param` the members of the server's error
// body (docs/API.md, "Errors"). Worth retrying: 429 and 5xx, and no answer; `retryAfterSeconds`
// is the server's Retry-After, when it sent one.
export class MintError extends BouncerError {
  constructor({ status, type = null, code, param = null, message, retryAfterSeconds = null, cause, secrets }) {
    super(message, { cause, secrets, code });
    this.name = 'MintError';
    this.status = status;
    this.type = type;
    this.param = param;
    this.retryable = status === 0 || status === 429 || status >= 500;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

// The close codes of Bouncer's refusals (docs/API.md, "Admission"): 1008 is final for that
// credential, model and origin; the others may succeed later (1013 capacity, 1011 the upstream,
// 1001 a server going away).
export const PERMANENT_CLOSE_CODE = 1008;

// Bouncer refused the session, at the door or (`Token revoked`) during it: it sent
// {"type":"error","error":reason} and closed with `closeCode`.
export class RefusedError extends BouncerError {
  constructor({ closeCode, reason }) {
    super(`Bouncer refused the session: ${reason} (close ${closeCode})`, { code: 'refused' });
    this.name = 'RefusedError';
    this.closeCode = closeCode;
    this.reason = reason;
    this.permanent = closeCode === PERMANENT_CLOSE_CODE;
    this.retryable = !this.permanent;
  }
}

// The connection ended without a refusal and without the session being over: the network
// dropped (1006), the upstream was lost (1011), the server went away (1001)…
export class ConnectionError extends BouncerError {
  constructor({ closeCode, reason = '', retryable, message, cause }) {
    const what = message ?? `The connection to Bouncer ended unexpectedly (close ${closeCode}${reason ? `: ${reason}` : ''})`;
    super(what, { cause, code: 'connection_lost' });
    this.name = 'ConnectionError';
    this.closeCode = closeCode;
    this.reason = reason;
    this.retryable = retryable;
  }
}

// A renewal did not take: Bouncer answered {"type":"bouncer.renew_failed","error":reason}, or no
// fresh credential could be had (`reason` null, `cause` says why). The session goes on to its
// old deadline.
export class RenewError extends BouncerError {
  constructor({ reason = null, message, cause }) {
    super(message ?? `Bouncer did not renew the session: ${reason}`, { cause, code: 'renew_failed' });
    this.name = 'RenewError';
    this.reason = reason;
  }
}
