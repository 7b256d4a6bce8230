// @bouncer/client: mint client credentials on your server, open and keep sessions in the
// browser or Node. The wire it speaks: docs/API.md of the Bouncer repository.
export { mintToken, mintUrl } from './mint.js';
export { connect, Session } from './session.js';
export { BouncerError, ConnectionError, MintError, RefusedError, RenewError } from './errors.js';
export { redact } from './redact.js';
export { backoffDelay } from './backoff.js';
