// One WebSocket session from the `ws` client, recorded: its messages (text as strings, binary
// as Buffers), its errors and its close. Terminated when the test ends.
import { waitFor, withTimeout } from './harness.mjs';

export const SESSION_WAIT_MS = 10_000;

export class WsSession {
  // `WebSocket`: the `ws` package's class (the caller imports it with importDep); `options`
  // go to it as they are (e.g. {ca} for wss://).
  constructor(t, WebSocket, url, { protocols = [], ...options } = {}) {
    this.messages = [];
    this.errors = [];
    this.ws = new WebSocket(url, protocols, { handshakeTimeout: SESSION_WAIT_MS, ...options });
    this.ws.on('message', (data, isBinary) => this.messages.push(isBinary ? Buffer.from(data) : data.toString('utf8')));
    this.ws.on('error', (e) => this.errors.push(e));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {}); // observed by the tests that await it
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
    });
    t.after(() => this.ws.terminate());
  }

  open() {
    return withTimeout(this.opened, SESSION_WAIT_MS, 'opening the WebSocket');
  }

  // Resolves the (n+1)-th message received, waiting for it if needed.
  message(n) {
    return waitFor(() => this.messages.length > n && { value: this.messages[n] }, {
      timeoutMs: SESSION_WAIT_MS,
      what: `message #${n + 1} (got ${JSON.stringify(this.messages)}, errors ${this.errors.map((e) => e.message)})`,
    }).then((m) => m.value);
  }

  // Sends `text` and resolves once it came back (the model echoes).
  async echo(text) {
    await this.open();
    const seen = this.messages.length;
    this.ws.send(text);
    await waitFor(() => this.messages.slice(seen).includes(text), {
      timeoutMs: SESSION_WAIT_MS,
      what: `the echo of ${JSON.stringify(text)} (got ${JSON.stringify(this.messages)}, errors ${this.errors.map((e) => e.message)})`,
    });
  }

  close() {
    return withTimeout(this.closed, SESSION_WAIT_MS, 'the close');
  }
}
