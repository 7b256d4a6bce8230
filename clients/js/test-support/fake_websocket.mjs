// A WebSocket class with the browser's API and no network, for the unit tests: each instance is
// one connection, driven by the test from the server's side (accept, message, refuse, close,
// drop). Events go to listeners synchronously, as the test calls; the connection's first step
// (`onConnect`) runs on a timer, after the client has added its listeners.
export function fakeWebSocket(onConnect = () => {}) {
  const sockets = [];
  class FakeWebSocket {
    constructor(url, protocols = [], options) {
      this.url = url;
      this.protocols = protocols;
      this.options = options;
      this.readyState = 0;
      this.protocol = '';
      this.binaryType = 'blob';
      this.sent = [];
      this.listeners = {};
      sockets.push(this);
      setTimeout(() => onConnect(this, sockets.length - 1), 0);
    }

    addEventListener(type, listener) {
      (this.listeners[type] ??= []).push(listener);
    }

    emit(type, event) {
      for (const listener of this.listeners[type] ?? []) listener(event);
    }

    send(data) {
      if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
      this.sent.push(data);
      this.onSend?.(data);
    }

    // The client's close: the server answers with the same code, a moment later.
    close(code = 1005, reason = '') {
      if (this.readyState >= 2) return;
      const wasOpen = this.readyState === 1;
      this.readyState = 2;
      setTimeout(() => this.finish(wasOpen ? code : 1006, wasOpen ? reason : '', wasOpen), 0);
    }

    // --- the server's side --------------------------------------------------------------------
    accept(protocol = this.protocols.includes('bouncer.v1') ? 'bouncer.v1' : '') {
      this.protocol = protocol;
      this.readyState = 1;
      this.emit('open', {});
    }

    message(data) {
      this.emit('message', { data: typeof data === 'object' && !(data instanceof ArrayBuffer) ? JSON.stringify(data) : data });
    }

    // A refusal as Bouncer tells it: 101, one error frame, then the close.
    refuse(error, code) {
      this.accept();
      this.message({ type: 'error', error });
      this.serverClose(code, error);
    }

    serverClose(code, reason = '') {
      this.finish(code, reason, true);
    }

    drop() {
      this.emit('error', { message: 'read ECONNRESET' });
      this.finish(1006, '', false);
    }

    finish(code, reason, wasClean) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.emit('close', { code, reason, wasClean });
    }
  }
  return { WebSocket: FakeWebSocket, sockets };
}

// A JWT-shaped token (not signed: the client never verifies) with the given claims.
export function fakeToken(claims = {}) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `ek_${part({ alg: 'EdDSA', typ: 'JWT' })}.${part({ jti: Math.random().toString(36).slice(2), ...claims })}.c2lnbmF0dXJl`;
}

export function tokenCredential(claims, expiresInMs = 60_000) {
  return { kind: 'token', token: fakeToken(claims), expiresAt: new Date(Date.now() + expiresInMs).toISOString() };
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls `condition` every 5 ms; throws after `timeoutMs`.
export async function until(condition, what, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
