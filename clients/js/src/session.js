// The browser's (or any client's) half: open a session at Bouncer's door, keep it alive by
// renewing its token in place, and come back after an unexpected end. The wire it speaks is
// docs/API.md, "GET /v1/stream" and "How a session ends".
import { backoffDelay, reconnectLimits } from './backoff.js';
import {
  assertCredential,
  assertResumeId,
  credentialToken,
  generateResumeId,
  isExpired,
  refuseSecretKeyInBrowser,
  sessionCapSeconds,
  streamTarget,
} from './credential.js';
import { BouncerError, ConnectionError, RefusedError, RenewError } from './errors.js';

const SOCKET_OPEN = 1;
const SOCKET_CONNECTING = 0;

// After these close codes a later attempt may succeed: the network dropped (1006), the server
// went away (1001) or restarts (1012), capacity (1013), the upstream (1011, 1014).
const RECONNECTABLE_CODES = new Set([1001, 1006, 1011, 1012, 1013, 1014]);

// Refusals that are final for the credential but not for the user: a fresh credential may be
// admitted where this one is not.
const CREDENTIAL_REFUSALS = new Set(['Token expired', 'Token already used']);

// Bouncer's refusal messages (docs/API.md, "Admission"). Only an error frame carrying one of
// these is taken as Bouncer's; any other {"type":"error"} is the model's and is delivered.
const REFUSAL_MESSAGES = new Set([
  'Invalid API key',
  'Token revoked',
  'Token expired',
  'Token already used',
  'Unknown model',
  'Model not allowed',
  'Origin not allowed',
  'Resume id already in use',
  'Resume id not allowed',
  'Concurrent session limit reached',
  'Concurrent session limit reached for this token',
  'Too many invalid credentials, try again later',
  'Service unavailable, try again later',
  'Upstream unavailable',
  'Server shutting down',
]);

// A refused session is answered 101 too, then an error frame: the client cannot tell an
// admission from a refusal at `open`. The refusal frame follows the 101 at once, so a session
// that stays quiet this long after opening (or that receives a model's message) was admitted.
const DEFAULT_ADMISSION_WINDOW_MS = 200;
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_RENEW_TIMEOUT_MS = 10_000;

export function connect(credential, options = {}) {
  return new Session(credential, options);
}

export class Session {
  #options;
  #limits;
  #WebSocket;
  #credential;
  #socket = null;
  #userClose = null; // {code, reason} once close() was called
  #wakeFromBackoff = null;
  #pendingRenewal = null;
  #renewingAutomatically = false;
  #everAdmitted = false;
  #resolveOpened;
  #rejectOpened;
  #resolveClosed;

  readyState = 'connecting';
  protocol = '';
  deadline = null; // Date, or null when the session has no cap (or it is not known)
  resumeId = null;

  constructor(credential, options = {}) {
    this.#credential = assertCredential(credential);
    this.#options = options;
    this.#limits = reconnectLimits(options.reconnect);
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function') {
      throw new TypeError(
        'No WebSocket class: pass {WebSocket} to connect() (for instance the ws package\'s; Node has a global WebSocket from version 22)',
      );
    }
    if (credential.kind === 'token') refuseSecretKeyInBrowser(credential.token, options.dangerouslyAllowBrowser);
    if (typeof options.resume === 'string') this.resumeId = assertResumeId(options.resume);
    if (credential.kind === 'token') streamTarget(credential, options); // throws now on a missing baseUrl or model

    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.opened.catch(() => {}); // a caller that only uses callbacks must not see an unhandled rejection
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    options.signal?.addEventListener('abort', () => this.close(1000, ''), { once: true });
    if (options.signal?.aborted) this.close(1000, '');
    this.#run();
  }

  // Sends a message to the model. Throws while the session is not open (connecting, between
  // reconnection attempts, closed).
  send(data) {
    if (this.#socket?.readyState !== SOCKET_OPEN) {
      throw new BouncerError(`The session is not open (${this.readyState})`, { code: 'not_open' });
    }
    this.#socket.send(data);
  }

  // Ends the session for good: no reconnection follows.
  close(code = 1000, reason = '') {
    // The codes an application may send (RFC 6455 §7.4; a browser throws on any other).
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) throw new TypeError('close code must be 1000 or 3000–4999');
    if (this.#userClose) return;
    this.#userClose = { code, reason };
    if (this.readyState !== 'closed') this.readyState = 'closing';
    this.#wakeFromBackoff?.();
    const socket = this.#socket;
    if (socket && (socket.readyState === SOCKET_OPEN || socket.readyState === SOCKET_CONNECTING)) {
      socket.close(code, reason);
    }
  }

  // Moves the session's deadline with a fresh credential (of the same key; docs/API.md). Resolves
  // {deadline} once Bouncer took it; rejects with a RenewError when it did not. The session goes
  // on either way.
  renew(credential) {
    assertCredential(credential);
    if (this.#socket?.readyState !== SOCKET_OPEN || !this.#everAdmitted) {
      return Promise.reject(new BouncerError(`The session is not open (${this.readyState})`, { code: 'not_open' }));
    }
    if (this.#pendingRenewal) {
      return Promise.reject(new BouncerError('A renewal is already waiting for its answer', { code: 'renew_pending' }));
    }
    const token = credentialToken(credential);
    const timeoutMs = this.#options.renewTimeoutMs ?? DEFAULT_RENEW_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settleRenewal(new RenewError({ message: `Bouncer did not answer the renewal within ${timeoutMs} ms` }));
      }, timeoutMs);
      this.#pendingRenewal = { credential, resolve, reject, timer };
      this.#socket.send(JSON.stringify({ type: 'bouncer.renew', token }));
    });
  }

  #settleRenewal(error, result) {
    const pending = this.#pendingRenewal;
    if (!pending) return;
    this.#pendingRenewal = null;
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve(result);
  }

  // ---------------------------------------------------------------------------------------------
  // The attempts.

  async #run() {
    let failures = 0;
    let needFreshCredential = false;
    let lastError;
    try {
      if (this.#options.resume === true) this.resumeId = await generateResumeId();
      for (;;) {
        if (this.#userClose) return this.#finish(this.#userCloseInfo());
        const credential = await this.#credentialForAttempt(needFreshCredential);
        if (this.#userClose) return this.#finish(this.#userCloseInfo()); // closed while it came
        const outcome =
          credential instanceof Error
            ? { error: credential }
            : this.#judge(await this.#attempt(credential, failures > 0 || this.#everAdmitted));
        if (outcome.admitted) failures = 0;
        if (outcome.final || this.#userClose) return this.#finish(outcome.info ?? this.#userCloseInfo());
        needFreshCredential = outcome.freshCredential === true;
        lastError = outcome.error;
        if (!this.#limits || failures >= this.#limits.maxAttempts) {
          return this.#finish({ ...outcome.info, error: lastError });
        }
        failures += 1;
        const delayMs = outcome.immediate ? 0 : backoffDelay(failures, this.#limits);
        this.readyState = 'reconnecting';
        this.#call('onReconnecting', { attempt: failures, delayMs, error: lastError });
        await this.#backoff(delayMs);
      }
    } catch (error) {
      // A bug or a callback that threw: end the session rather than leave it hanging.
      this.#finish({ code: 1006, reason: '', wasClean: false, error: asBouncerError(error) });
    }
  }

  #userCloseInfo() {
    return { code: this.#userClose?.code ?? 1000, reason: this.#userClose?.reason ?? '', wasClean: true };
  }

  // The credential to open with: the current one, or a fresh one from getCredential when the
  // current one is past its time or was refused as expired or used up. An Error when
  // getCredential failed (the attempt counts as failed; its backend may be back soon).
  async #credentialForAttempt(needFresh) {
    const { getCredential } = this.#options;
    if (!getCredential || !(needFresh || isExpired(this.#credential))) return this.#credential;
    try {
      this.#credential = assertCredential(await getCredential({ reason: needFresh ? 'refused' : 'expired' }));
      return this.#credential;
    } catch (error) {
      return new BouncerError(`getCredential failed: ${error?.message ?? error}`, { cause: error, code: 'credential_unavailable' });
    }
  }

  #backoff(delayMs) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, delayMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#wakeFromBackoff = null;
        resolve();
      }
      this.#wakeFromBackoff = done;
    });
  }

  // One connection, from the constructor to its close. Resolves what happened:
  // {admitted, code, reason, wasClean, held, failure}.
  #attempt(credential, reconnected) {
    return new Promise((resolve) => {
      const options = this.#options;
      const state = { admitted: false, held: null, failure: null, timedOut: false, openedAt: 0 };
      let socket;
      try {
        const { url, protocols } = streamTarget(credential, { ...options, resumeId: this.resumeId });
        socket = options.webSocketOptions
          ? new this.#WebSocket(url, protocols, options.webSocketOptions)
          : new this.#WebSocket(url, protocols);
      } catch (error) {
        resolve({ ...state, code: 1006, reason: '', wasClean: false, failure: error, notOpenable: true });
        return;
      }
      this.#socket = socket;
      socket.binaryType = options.binaryType ?? 'arraybuffer';
      let admissionTimer;
      const pauseAdmission = () => clearTimeout(admissionTimer);
      const connectTimer = setTimeout(() => {
        state.timedOut = true;
        socket.close();
      }, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);

      const admit = () => {
        if (state.admitted) return;
        clearTimeout(admissionTimer);
        state.admitted = true;
        this.#onAdmitted(credential, state.openedAt, reconnected);
      };
      socket.addEventListener('open', () => {
        clearTimeout(connectTimer);
        state.openedAt = Date.now();
        this.protocol = socket.protocol ?? '';
        admissionTimer = setTimeout(admit, options.admissionWindowMs ?? DEFAULT_ADMISSION_WINDOW_MS);
      });
      socket.addEventListener('message', (event) => this.#onSocketMessage(event.data, state, { admit, pauseAdmission }));
      socket.addEventListener('error', (event) => {
        state.failure ??= event?.error ?? new Error(event?.message || 'WebSocket error');
      });
      socket.addEventListener('close', (event) => {
        clearTimeout(connectTimer);
        clearTimeout(admissionTimer);
        this.#settleRenewal(new RenewError({ message: 'The session ended before Bouncer answered the renewal' }));
        resolve({ ...state, code: event.code ?? 1006, reason: event.reason ?? '', wasClean: event.wasClean ?? false });
      });
    });
  }

  #onAdmitted(credential, openedAt, reconnected) {
    this.#everAdmitted = true;
    this.readyState = this.#userClose ? 'closing' : 'open';
    const cap = capOf(credential);
    this.deadline = cap === null ? null : new Date(openedAt + cap * 1000);
    this.#resolveOpened();
    this.#call('onOpen', { protocol: this.protocol, reconnected, resumeId: this.resumeId });
  }

  #onSocketMessage(data, state, { admit, pauseAdmission }) {
    const control = typeof data === 'string' ? parseControl(data) : null;
    if (control?.type?.startsWith('bouncer.')) {
      admit(); // only an admitted session hears from Bouncer this way
      this.#onBouncerMessage(control);
      return;
    }
    if (isRefusalFrame(control) || isSessionEndedFrame(control)) {
      // Bouncer's when its close follows (checked at the close); until then held back, and
      // the session not taken as admitted.
      this.#deliverHeld(state);
      state.held = { frame: control, data };
      pauseAdmission();
      return;
    }
    this.#deliverHeld(state);
    admit(); // a message from the model: the session was admitted
    this.#call('onMessage', data);
  }

  // A held frame that no matching close followed was the model's after all.
  #deliverHeld(state) {
    if (!state.held) return;
    const { data } = state.held;
    state.held = null;
    this.#call('onMessage', data);
  }

  #onBouncerMessage(message) {
    switch (message.type) {
      case 'bouncer.session_expiring':
        this.#call('onExpiring', { secondsLeft: message.secondsLeft });
        if (this.#options.getCredential) this.#renewAutomatically(message.secondsLeft);
        return;
      case 'bouncer.renewed': {
        this.deadline = typeof message.deadline === 'string' ? new Date(message.deadline) : null;
        const credential = this.#pendingRenewal?.credential;
        if (credential) this.#credential = credential; // reconnections open with the newest one
        this.#settleRenewal(null, { deadline: this.deadline });
        this.#call('onRenewed', { deadline: this.deadline });
        return;
      }
      case 'bouncer.renew_failed':
        this.#settleRenewal(new RenewError({ reason: String(message.error ?? 'unknown') }));
        return;
      case 'bouncer.error':
        // Bouncer did not understand a bouncer.* message of ours (one the application sent,
        // most likely: this client sends only bouncer.renew). The session goes on.
        this.#call('onError', new BouncerError(`Bouncer did not take a message: ${message.error}`, { code: 'bouncer_error' }));
        return;
      default:
        // Bouncer's own, of a kind this version does not know: never the application's.
        return;
    }
  }

  async #renewAutomatically(secondsLeft) {
    if (this.#renewingAutomatically || this.#pendingRenewal) return;
    this.#renewingAutomatically = true;
    try {
      let fresh;
      try {
        fresh = assertCredential(await this.#options.getCredential({ reason: 'renew', secondsLeft }));
      } catch (error) {
        throw new RenewError({ message: `getCredential failed: ${error?.message ?? error}`, cause: error });
      }
      await this.renew(fresh);
    } catch (error) {
      this.#call('onError', error instanceof RenewError ? error : new RenewError({ message: 'The renewal failed', cause: error }));
    } finally {
      this.#renewingAutomatically = false;
    }
  }

  // What one attempt's end means: {final, info, error, retry, freshCredential, immediate, admitted}.
  #judge(result) {
    const { code, reason, wasClean, admitted, held } = result;
    const base = { code, reason, wasClean };
    const refusal = isRefusalClose(held?.frame, code, reason) ? new RefusedError({ closeCode: code, reason: held.frame.error }) : null;
    const ended = isSessionEndedFrame(held?.frame) && code === 1000 ? { reason: held.frame.reason, seconds: held.frame.seconds } : null;
    if (held && !refusal && !ended) this.#call('onMessage', held.data);
    if (this.#userClose) return { final: true, admitted, info: base };
    if (result.notOpenable) {
      const error = new BouncerError(`The WebSocket could not be created: ${result.failure?.message ?? result.failure}`, { cause: result.failure, code: 'invalid_target' });
      return { final: true, admitted, info: { ...base, error } };
    }
    if (refusal) {
      const canRenewCredential = refusal.permanent && CREDENTIAL_REFUSALS.has(refusal.reason) && this.#options.getCredential;
      if (refusal.permanent && !canRenewCredential) return { final: true, admitted, info: { ...base, error: refusal } };
      return { admitted, info: base, error: refusal, freshCredential: Boolean(canRenewCredential) };
    }
    if (ended) {
      const info = { ...base, ended };
      if (!this.#options.getCredential) return { final: true, admitted, info };
      return { admitted, info, error: undefined, freshCredential: true, immediate: true };
    }
    if (RECONNECTABLE_CODES.has(code)) {
      const error = new ConnectionError({
        closeCode: code,
        reason,
        retryable: true,
        message: result.timedOut ? 'Bouncer did not open the WebSocket in time' : undefined,
        cause: result.failure ?? undefined,
      });
      return { admitted, info: base, error };
    }
    // The model (or the protocol) ended the session: over, and not for another attempt to fix.
    const error = code === 1000 || code === 1005 ? undefined : new ConnectionError({ closeCode: code, reason, retryable: false });
    return { final: true, admitted, info: error ? { ...base, error } : base };
  }

  #finish(info) {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.#socket = null;
    const error = info.error;
    if (!this.#everAdmitted) {
      this.#rejectOpened(error ?? new BouncerError('The session was closed before it opened', { code: 'closed' }));
    }
    if (error) this.#call('onError', error);
    const closeInfo = { code: info.code ?? 1006, reason: info.reason ?? '', wasClean: info.wasClean ?? false };
    if (info.ended) closeInfo.ended = info.ended;
    if (error) closeInfo.error = error;
    this.#call('onClose', closeInfo);
    this.#resolveClosed(closeInfo);
  }

  // A callback that throws must not break the session's bookkeeping.
  #call(name, ...args) {
    const callback = this.#options[name];
    if (typeof callback !== 'function') return;
    try {
      callback(...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

function capOf(credential) {
  try {
    return sessionCapSeconds(credentialToken(credential));
  } catch {
    return null;
  }
}

function parseControl(text) {
  if (!text.startsWith('{') || !text.includes('"type"')) return null;
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && typeof value.type === 'string' ? value : null;
  } catch {
    return null;
  }
}

function isRefusalFrame(frame) {
  return frame?.type === 'error' && REFUSAL_MESSAGES.has(frame.error);
}

// A refusal frame is Bouncer's when its close follows, with a refusal's code and (unless the
// connection dropped first) the same message as reason.
function isRefusalClose(frame, code, reason) {
  return isRefusalFrame(frame) && code !== 1000 && (reason === frame.error || reason === '');
}

function isSessionEndedFrame(frame) {
  return frame?.type === 'session_ended' && typeof frame.reason === 'string';
}

function asBouncerError(error) {
  return error instanceof BouncerError ? error : new BouncerError(String(error?.message ?? error), { cause: error });
}
