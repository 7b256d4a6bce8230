// Type declarations of @bouncer/client (hand-written; the code is src/*.js).
// The wire these functions speak is docs/API.md of the Bouncer repository.

/** A client credential as a backend hands it to a browser. `token` is the `ek_…` key or the bare JWT. */
export type ClientCredential =
  | { kind: 'token'; token: string; expiresAt: string }
  | { kind: 'url'; url: string; expiresAt: string };

export type TokenCredential = Extract<ClientCredential, { kind: 'token' }>;
export type UrlCredential = Extract<ClientCredential, { kind: 'url' }>;

// ---------------------------------------------------------------------------------------------
// Minting (server side).

export interface RealtimeConstraints {
  /** 10–86400 seconds: cap on each session's life. */
  maxSessionDuration?: number;
  /** 1–1000: live sessions of this token at a time. */
  maxConcurrentSessions?: number;
}

/** The body of `POST /v1/client/tokens`, as the server takes it. */
export interface MintBody {
  /** 1–3600 seconds: the window for starting sessions (default 60). */
  expiresIn?: number;
  allowedModels?: string[];
  /** Canonical origins, such as `https://app.example.com`. */
  allowedOrigins?: string[];
  constraints?: { realtime?: RealtimeConstraints };
  /** Stored with the token record, sent to the upstream; never put in the token. */
  metadata?: Record<string, unknown>;
  /** 1–1000 admissions (resumed reconnections excepted); default unlimited. */
  maxUses?: number;
}

export interface MintClientOptions {
  /** The server: `https://bouncer.example.com` (a `ws(s)://` form is accepted too). */
  baseUrl: string;
  /** The permanent key, `sk_…`. Keep it on your server. */
  apiKey: string;
  /** Default: `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
  signal?: AbortSignal;
  /** Extra request headers (the API key and content type are set by the package). */
  headers?: Record<string, string>;
  /** Allow an `sk_` key where a global `window` exists. Only for pages that are not public. */
  dangerouslyAllowBrowser?: boolean;
}

export type MintTokenOptions = MintClientOptions & MintBody;
export type MintUrlOptions = MintClientOptions & MintBody & { model: string };

export function mintToken(options: MintTokenOptions): Promise<TokenCredential>;
export function mintUrl(options: MintUrlOptions): Promise<UrlCredential>;

// ---------------------------------------------------------------------------------------------
// Errors. Their messages never hold a credential.

export class BouncerError extends Error {
  constructor(message: string, options?: { cause?: unknown; secrets?: string[]; code?: string });
  /** Machine-readable: `not_open`, `secret_key_in_browser`, `credential_unavailable`, … */
  code?: string;
}

export class MintError extends BouncerError {
  /** The HTTP status; 0 when the server did not answer. */
  status: number;
  /** The error body's `type` (`invalid_request_error`, …), or null. */
  type: string | null;
  /** The error body's `code` (`out_of_range`, `rate_limited`, …); `network_error` without an answer. */
  code: string;
  /** The offending field, or null. */
  param: string | null;
  /** 429, 5xx and no answer. */
  retryable: boolean;
  /** The server's `Retry-After`, in seconds, or null. */
  retryAfterSeconds: number | null;
}

/** Bouncer refused the session: `{"type":"error","error":reason}`, then a close with `closeCode`. */
export class RefusedError extends BouncerError {
  closeCode: number;
  /** The server's message: `Invalid API key`, `Token expired`, `Concurrent session limit reached`, … */
  reason: string;
  /** Close 1008: final for this credential, model and origin. */
  permanent: boolean;
  retryable: boolean;
}

/** The connection ended without a refusal: network drop (1006), upstream lost (1011), server going away (1001)… */
export class ConnectionError extends BouncerError {
  closeCode: number;
  reason: string;
  retryable: boolean;
}

/** A renewal did not take; the session goes on to its old deadline. */
export class RenewError extends BouncerError {
  /** Bouncer's `renew_failed` message, or null when the failure was on the client's side. */
  reason: string | null;
}

/** Hides every credential-shaped substring (`sk_…`, `ek_…`, JWTs, `token=`/`api_key=` values, `bouncer.key.…`). */
export function redact(text: string, secrets?: string[]): string;

// ---------------------------------------------------------------------------------------------
// Sessions (browser or Node).

export interface ReconnectOptions {
  /** Failed attempts in a row before giving up (default 5; 0 turns reconnection off). */
  maxAttempts?: number;
  /** First delay (default 500 ms); doubled at each attempt, with jitter. */
  baseDelayMs?: number;
  /** Cap of the delay (default 15000 ms). */
  maxDelayMs?: number;
}

export interface CredentialRequest {
  /** `renew`: the session nears its deadline; `expired`: the current credential is past its time; `refused`: it was refused as expired or used up. */
  reason: 'renew' | 'expired' | 'refused';
  secondsLeft?: number;
}

/** A WebSocket class: the browser's, Node 22's, or one with the same API (the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  send(data: any): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string[], options?: any) => WebSocketLike;

export interface OpenInfo {
  protocol: string;
  /** True when this is a reconnection of the same session object. */
  reconnected: boolean;
  resumeId: string | null;
}

export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  /** Set when the session ended at its `maxSessionDuration`. */
  ended?: { reason: string; seconds: number };
  /** Why the session ended, when it was not by the user's close or a normal end. */
  error?: BouncerError;
}

export interface ConnectOptions {
  /** The model to open (required for a credential of kind `token`). */
  model?: string;
  /** The server, `ws(s)://` or `http(s)://` (required for a credential of kind `token`). */
  baseUrl?: string;
  /** The model's own subprotocols, offered after Bouncer's. */
  protocols?: string[];
  /** Where a token goes: a `bouncer.key.…` subprotocol (default, keeps it out of URLs and logs) or the `api_key` query parameter. */
  credentialIn?: 'protocol' | 'query';
  /** Default: `globalThis.WebSocket`. In Node before 22, pass the `ws` package's class. */
  WebSocket?: WebSocketConstructor;
  /** Third argument of the WebSocket constructor (the `ws` package's options: `origin`, `headers`, `ca`…). */
  webSocketOptions?: Record<string, unknown>;
  /** Default `arraybuffer`. */
  binaryType?: string;
  /** Reconnection after an unexpected end (default on, with the defaults of ReconnectOptions); `false` turns it off. */
  reconnect?: ReconnectOptions | boolean;
  /** `true`: a random resume id; or your own (16–64 of `A-Z a-z 0-9 _ -`). Reconnections within 30 s of an end use no `maxUses`. */
  resume?: boolean | string;
  /** A fresh credential: to renew in place before the deadline, and to reconnect after an expiry. */
  getCredential?: (request: CredentialRequest) => Promise<ClientCredential> | ClientCredential;
  signal?: AbortSignal;
  /** How long after `open` a silent session counts as admitted (default 200 ms). */
  admissionWindowMs?: number;
  /** Default 15000 ms. */
  connectTimeoutMs?: number;
  /** Default 10000 ms. */
  renewTimeoutMs?: number;
  /** Let an `sk_` credential be used where a global `window` exists. */
  dangerouslyAllowBrowser?: boolean;

  onOpen?: (info: OpenInfo) => void;
  /** The model's messages: strings for text, ArrayBuffers (by default) for binary. Never Bouncer's own. */
  onMessage?: (data: any) => void;
  onClose?: (info: CloseInfo) => void;
  onError?: (error: BouncerError) => void;
  onRenewed?: (info: { deadline: Date | null }) => void;
  onExpiring?: (info: { secondsLeft: number }) => void;
  onReconnecting?: (info: { attempt: number; delayMs: number; error: BouncerError | undefined }) => void;
}

export type SessionState = 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed';

export class Session {
  constructor(credential: ClientCredential, options?: ConnectOptions);
  readonly readyState: SessionState;
  /** The negotiated subprotocol of the current connection. */
  readonly protocol: string;
  /** When the session will be ended, or null (no cap, or not known). */
  readonly deadline: Date | null;
  readonly resumeId: string | null;
  /** Resolves when the session is admitted; rejects with the error that ended it before that. */
  readonly opened: Promise<void>;
  /** Resolves once the session is over for good. Never rejects. */
  readonly closed: Promise<CloseInfo>;
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  /** Moves the deadline with a fresh credential of the same key. */
  renew(credential: ClientCredential): Promise<{ deadline: Date | null }>;
}

export function connect(credential: ClientCredential, options?: ConnectOptions): Session;

/** The delay before reconnection attempt `attempt` (1, 2, …): exponential, capped, in the upper half of its step. */
export function backoffDelay(
  attempt: number,
  limits: { baseDelayMs: number; maxDelayMs: number },
  random?: () => number,
): number;
