// connect() against a fake WebSocket (test-support/fake_websocket.mjs): what reaches the
// application, how each of Bouncer's refusals and ends is told, renewal, reconnection and resume
// ids.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BouncerError, ConnectionError, RefusedError, RenewError, connect } from '../src/index.js';
import { fakeWebSocket, fakeToken, sleep, tokenCredential, until } from '../test-support/fake_websocket.mjs';

const BASE = 'https://bouncer.example.com';
const FAST = { admissionWindowMs: 20, reconnect: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } };

// Opens a session whose connections `onConnect` drives; records every callback.
function open(credential, onConnect, options = {}) {
  const fake = fakeWebSocket(onConnect);
  const events = { open: [], message: [], error: [], close: [], renewed: [], reconnecting: [], expiring: [] };
  const session = connect(credential, {
    baseUrl: BASE,
    model: 'echo',
    WebSocket: fake.WebSocket,
    ...FAST,
    onOpen: (info) => events.open.push(info),
    onMessage: (data) => events.message.push(data),
    onError: (error) => events.error.push(error),
    onClose: (info) => events.close.push(info),
    onRenewed: (info) => events.renewed.push(info),
    onReconnecting: (info) => events.reconnecting.push(info),
    onExpiring: (info) => events.expiring.push(info),
    ...options,
  });
  return { session, sockets: fake.sockets, events };
}

describe('opening', () => {
  test('a token goes as a bouncer.key subprotocol, with bouncer.v1 and the model\'s own after it', async () => {
    const credential = tokenCredential();
    const { session, sockets } = open(credential, (ws) => ws.accept('realtime'), { protocols: ['realtime'] });
    await session.opened;
    assert.equal(sockets[0].url, 'wss://bouncer.example.com/v1/stream?model=echo');
    assert.deepEqual(sockets[0].protocols, [`bouncer.key.${credential.token}`, 'bouncer.v1', 'realtime']);
    assert.equal(session.protocol, 'realtime');
    assert.equal(session.readyState, 'open');
    session.close();
    await session.closed;
  });

  test('credentialIn query puts the token in api_key and offers only the model\'s protocols', async () => {
    const credential = tokenCredential();
    const { session, sockets } = open(credential, (ws) => ws.accept(), { credentialIn: 'query', baseUrl: 'http://127.0.0.1:8080/' });
    await session.opened;
    const url = new URL(sockets[0].url);
    assert.equal(url.origin + url.pathname, 'ws://127.0.0.1:8080/v1/stream');
    assert.equal(url.searchParams.get('api_key'), credential.token);
    assert.equal(url.searchParams.get('model'), 'echo');
    assert.deepEqual(sockets[0].protocols, []);
    session.close();
    await session.closed;
  });

  test('a signed URL is opened as it is, with the resume id appended', async () => {
    const url = 'ws://127.0.0.1:8080/v1/stream?model=echo&token=eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln';
    const { session, sockets } = open({ kind: 'url', url, expiresAt: new Date(Date.now() + 60_000).toISOString() }, (ws) => ws.accept(), {
      resume: 'resume-id-0123456789',
      baseUrl: undefined,
      model: undefined,
    });
    await session.opened;
    assert.equal(sockets[0].url, `${url}&resume=resume-id-0123456789`);
    session.close();
    await session.closed;
  });

  test('resume: true generates a 22-character base64url id; a bad id is refused at once', async () => {
    const { session, sockets } = open(tokenCredential(), (ws) => ws.accept(), { resume: true });
    await session.opened;
    assert.match(session.resumeId, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(new URL(sockets[0].url).searchParams.get('resume'), session.resumeId);
    session.close();
    await session.closed;
    for (const bad of ['short', 'x'.repeat(65), 'has space in it!!!!!']) {
      assert.throws(() => connect(tokenCredential(), { baseUrl: BASE, model: 'echo', WebSocket: class {}, resume: bad }), TypeError);
    }
  });

  test('without a WebSocket class the error says what to pass', () => {
    const saved = globalThis.WebSocket;
    try {
      globalThis.WebSocket = undefined;
      assert.throws(() => connect(tokenCredential(), { baseUrl: BASE, model: 'echo' }), /pass \{WebSocket\}.*ws package/);
    } finally {
      globalThis.WebSocket = saved;
    }
  });

  test('a token credential needs baseUrl and model; a malformed credential is a TypeError', () => {
    const { WebSocket } = fakeWebSocket();
    assert.throws(() => connect(tokenCredential(), { model: 'echo', WebSocket }), /baseUrl/);
    assert.throws(() => connect(tokenCredential(), { baseUrl: BASE, WebSocket }), /model/);
    assert.throws(() => connect({ kind: 'token' }, { baseUrl: BASE, model: 'echo', WebSocket }), TypeError);
  });

  test('the webSocketOptions go to the constructor as its third argument', async () => {
    const { session, sockets } = open(tokenCredential(), (ws) => ws.accept(), { webSocketOptions: { origin: 'https://app.example.com' } });
    await session.opened;
    assert.deepEqual(sockets[0].options, { origin: 'https://app.example.com' });
    session.close();
    await session.closed;
  });
});

describe('messages', () => {
  test('the model\'s messages reach onMessage, Bouncer\'s own (bouncer.*) never do', async () => {
    const { session, sockets, events } = open(tokenCredential(), (ws) => {
      ws.accept();
      ws.message('first');
      ws.message({ type: 'bouncer.session_expiring', secondsLeft: 5 });
      ws.message({ type: 'bouncer.something_new', x: 1 });
      ws.message({ type: 'bouncer.renewed', deadline: null });
      ws.message({ type: 'bouncer.renew_failed', error: 'Token revoked' });
      ws.message('{"type":"bouncer.renew","token":"ek_x"}');
      ws.message({ type: 'response', text: 'second' });
    });
    await session.opened;
    await until(() => events.message.length === 2, 'two messages');
    assert.deepEqual(events.message, ['first', '{"type":"response","text":"second"}']);
    session.send('hello');
    assert.deepEqual(sockets[0].sent, ['hello']);
    session.close();
    await session.closed;
  });

  test('bouncer.error (a bouncer.* message Bouncer did not know) is an error, and the session goes on', async () => {
    const { session, sockets, events } = open(tokenCredential(), (ws) => ws.accept());
    await session.opened;
    sockets[0].onSend = (data) => {
      if (data.includes('"bouncer.')) sockets[0].message({ type: 'bouncer.error', error: 'Unknown message type' });
    };
    session.send('{"type":"bouncer.frobnicate"}');
    assert.equal(events.error.length, 1);
    assert.equal(events.error[0].code, 'bouncer_error');
    assert.match(events.error[0].message, /Unknown message type/);
    assert.deepEqual(events.message, []);
    assert.equal(session.readyState, 'open');
    session.close();
    await session.closed;
  });

  test('an error frame that is not one of Bouncer\'s refusals is the model\'s message', async () => {
    const { session, events } = open(tokenCredential(), (ws) => {
      ws.accept();
      ws.message({ type: 'error', error: 'bad prompt' });
      ws.message({ type: 'error', error: 'Token expired' }); // held until the next event…
      ws.message('after'); // …which shows it was the model's
    });
    await session.opened;
    await until(() => events.message.length === 3, 'three messages');
    assert.deepEqual(events.message, ['{"type":"error","error":"bad prompt"}', '{"type":"error","error":"Token expired"}', 'after']);
    session.close();
    await session.closed;
  });

  test('send() throws while the session is not open; close() before the first connection opens none', async () => {
    const { session, sockets } = open(tokenCredential(), () => {});
    assert.throws(() => session.send('x'), (e) => e instanceof BouncerError && e.code === 'not_open');
    session.close();
    const closed = await session.closed;
    assert.equal(closed.code, 1000);
    assert.equal(sockets.length, 0);
    await assert.rejects(session.opened, (e) => e instanceof BouncerError && e.code === 'closed');
  });
});

// Every refusal of docs/API.md, "Admission", with the contract's new ones.
const REFUSALS = [
  ['Invalid API key', 1008],
  ['Token revoked', 1008],
  ['Token expired', 1008],
  ['Token already used', 1008],
  ['Unknown model', 1008],
  ['Model not allowed', 1008],
  ['Origin not allowed', 1008],
  ['Resume id already in use', 1008],
  ['Resume id not allowed', 1008],
  ['Concurrent session limit reached', 1013],
  ['Concurrent session limit reached for this token', 1013],
  ['Too many invalid credentials, try again later', 1013],
  ['Service unavailable, try again later', 1013],
  ['Upstream unavailable', 1011],
  ['Server shutting down', 1001],
];

describe('refusals', () => {
  for (const [message, code] of REFUSALS) {
    test(`${message} (${code}) is a RefusedError, ${code === 1008 ? 'permanent' : 'retryable'}`, async () => {
      const credential = tokenCredential();
      const { session, events } = open(credential, (ws) => ws.refuse(message, code), { reconnect: false });
      const error = await session.opened.then(
        () => assert.fail('opened resolved'),
        (e) => e,
      );
      assert.ok(error instanceof RefusedError, String(error));
      assert.equal(error.closeCode, code);
      assert.equal(error.reason, message);
      assert.equal(error.permanent, code === 1008);
      assert.equal(error.retryable, code !== 1008);
      assert.ok(!error.message.includes(credential.token.slice(3)), 'no credential in the message');
      const closed = await session.closed;
      assert.equal(closed.error, error);
      assert.equal(closed.code, code);
      assert.deepEqual(events.error, [error]);
      assert.deepEqual(events.open, [], 'a refused session never opened');
      assert.deepEqual(events.message, [], 'the refusal frame is not a message');
      assert.equal(session.readyState, 'closed');
    });
  }

  test('a permanent refusal is never retried, even with reconnection on', async () => {
    const { session, sockets, events } = open(tokenCredential(), (ws) => ws.refuse('Model not allowed', 1008));
    await session.closed;
    await sleep(50);
    assert.equal(sockets.length, 1);
    assert.deepEqual(events.reconnecting, []);
  });

  test('a capacity refusal (1013) is retried within maxAttempts, then reported', async () => {
    const { session, sockets, events } = open(tokenCredential(), (ws) => ws.refuse('Concurrent session limit reached', 1013));
    const closed = await session.closed;
    assert.equal(sockets.length, 1 + FAST.reconnect.maxAttempts);
    assert.deepEqual(
      events.reconnecting.map((r) => r.attempt),
      [1, 2, 3],
    );
    assert.ok(closed.error instanceof RefusedError && closed.error.retryable);
    await assert.rejects(session.opened, RefusedError);
  });

  test('a refusal after the 101 but before the admission window is not an open', async () => {
    const { session, events } = open(
      tokenCredential(),
      (ws) => {
        ws.accept();
        setTimeout(() => ws.message({ type: 'error', error: 'Unknown model' }), 5);
        setTimeout(() => ws.serverClose(1008, 'Unknown model'), 60); // the close later than the window
      },
      { reconnect: false, admissionWindowMs: 30 },
    );
    await assert.rejects(session.opened, (e) => e instanceof RefusedError && e.reason === 'Unknown model');
    await session.closed;
    assert.deepEqual(events.open, []);
  });

  test('Token revoked during the session ends it for good', async () => {
    const { session, sockets, events } = open(tokenCredential(), (ws) => ws.accept());
    await session.opened;
    sockets[0].message({ type: 'error', error: 'Token revoked' });
    sockets[0].serverClose(1008, 'Token revoked');
    const closed = await session.closed;
    assert.ok(closed.error instanceof RefusedError && closed.error.permanent);
    assert.equal(sockets.length, 1);
    assert.deepEqual(events.message, []);
  });
});

describe('reconnection', () => {
  for (const [what, end] of [
    ['a network drop (1006)', (ws) => ws.drop()],
    ['Upstream connection lost (1011)', (ws) => ws.serverClose(1011, 'Upstream connection lost')],
    ['Server shutting down (1001)', (ws) => ws.serverClose(1001, 'Server shutting down')],
  ]) {
    test(`after ${what}: a new connection with the same resume id`, async () => {
      const { session, sockets, events } = open(tokenCredential(), (ws) => ws.accept(), { resume: true });
      await session.opened;
      end(sockets[0]);
      await until(() => events.open.length === 2, 'the reconnection');
      assert.equal(sockets.length, 2);
      const ids = sockets.map((s) => new URL(s.url).searchParams.get('resume'));
      assert.equal(ids[0], session.resumeId);
      assert.equal(ids[1], session.resumeId);
      assert.deepEqual(
        events.open.map((o) => o.reconnected),
        [false, true],
      );
      assert.ok(events.reconnecting[0].error instanceof ConnectionError);
      assert.equal(events.reconnecting[0].error.retryable, true);
      assert.deepEqual(events.error, [], 'a recovered drop is not an error');
      session.close();
      const closed = await session.closed;
      assert.equal(closed.code, 1000);
      assert.equal(sockets.length, 2, 'no reconnection after close()');
    });
  }

  test('failures in a row count to maxAttempts; an admission resets the count', async () => {
    let n = 0;
    const { session, sockets, events } = open(tokenCredential(), (ws) => {
      n += 1;
      if (n === 1 || n === 4) ws.accept();
      else ws.drop();
    });
    await session.opened;
    sockets[0].drop(); // then 2 and 3 fail, 4 admits
    await until(() => events.open.length === 2, 'the second admission');
    assert.deepEqual(
      events.reconnecting.map((r) => r.attempt),
      [1, 2, 3],
    );
    sockets[3].drop(); // a new series: 5, 6, 7 fail, and that is the limit
    const closed = await session.closed;
    assert.equal(sockets.length, 7);
    assert.ok(closed.error instanceof ConnectionError);
    assert.equal(events.error.length, 1);
  });

  test('reconnect: false ends the session at the first drop', async () => {
    const { session, sockets } = open(tokenCredential(), (ws) => ws.accept(), { reconnect: false });
    await session.opened;
    sockets[0].drop();
    const closed = await session.closed;
    assert.equal(closed.code, 1006);
    assert.ok(closed.error instanceof ConnectionError);
    assert.equal(sockets.length, 1);
  });

  test('a normal end by the model is the end: no reconnection', async () => {
    const { session, sockets } = open(tokenCredential(), (ws) => ws.accept());
    await session.opened;
    sockets[0].serverClose(1000, 'bye');
    const closed = await session.closed;
    assert.deepEqual(closed, { code: 1000, reason: 'bye', wasClean: true });
    await sleep(30);
    assert.equal(sockets.length, 1);
  });

  test('Token expired on a reconnection: a fresh credential from getCredential', async () => {
    const fresh = tokenCredential();
    const requests = [];
    let n = 0;
    const { session, sockets, events } = open(
      tokenCredential(),
      (ws) => {
        n += 1;
        if (n === 2) ws.refuse('Token expired', 1008);
        else ws.accept();
      },
      {
        getCredential: async (request) => {
          requests.push(request);
          return fresh;
        },
      },
    );
    await session.opened;
    sockets[0].drop();
    await until(() => events.open.length === 2, 'the reconnection with a fresh credential');
    assert.deepEqual(requests, [{ reason: 'refused' }]);
    assert.equal(sockets[2].protocols[0], `bouncer.key.${fresh.token}`);
    session.close();
    await session.closed;
  });

  test('Token already used without getCredential: the end', async () => {
    let n = 0;
    const { session, sockets } = open(tokenCredential(), (ws) => {
      n += 1;
      if (n === 1) ws.accept();
      else ws.refuse('Token already used', 1008);
    });
    await session.opened;
    sockets[0].drop();
    const closed = await session.closed;
    assert.ok(closed.error instanceof RefusedError);
    assert.equal(closed.error.reason, 'Token already used');
    assert.equal(sockets.length, 2);
  });

  test('an expired credential is replaced before the attempt, not after a refusal', async () => {
    const fresh = tokenCredential();
    const { session, sockets, events } = open(tokenCredential({}, 40), (ws) => ws.accept(), {
      getCredential: async () => fresh,
    });
    await session.opened;
    await sleep(60); // past the first credential's expiresAt
    sockets[0].drop();
    await until(() => events.open.length === 2, 'the reconnection');
    assert.equal(sockets[1].protocols[0], `bouncer.key.${fresh.token}`);
    session.close();
    await session.closed;
  });

  test('max_session_duration ends the session; with getCredential it comes back with a fresh one', async () => {
    const endOf = (ws) => {
      ws.message({ type: 'session_ended', reason: 'max_session_duration', seconds: 10 });
      ws.serverClose(1000, 'max_session_duration');
    };
    const plain = open(tokenCredential(), (ws) => ws.accept());
    await plain.session.opened;
    endOf(plain.sockets[0]);
    const closed = await plain.session.closed;
    assert.deepEqual(closed.ended, { reason: 'max_session_duration', seconds: 10 });
    assert.equal(closed.error, undefined);
    assert.deepEqual(plain.events.message, [], 'the session_ended frame is Bouncer\'s');
    await sleep(30);
    assert.equal(plain.sockets.length, 1);

    const fresh = tokenCredential();
    const renewing = open(tokenCredential(), (ws) => ws.accept(), { getCredential: async () => fresh });
    await renewing.session.opened;
    endOf(renewing.sockets[0]);
    await until(() => renewing.events.open.length === 2, 'the new session');
    assert.equal(renewing.sockets[1].protocols[0], `bouncer.key.${fresh.token}`);
    renewing.session.close();
    await renewing.session.closed;
  });

  test('close() during the backoff ends the session at once', async () => {
    const { session, sockets, events } = open(tokenCredential(), (ws) => ws.accept(), {
      reconnect: { maxAttempts: 3, baseDelayMs: 10_000, maxDelayMs: 10_000 },
    });
    await session.opened;
    sockets[0].drop();
    await until(() => events.reconnecting.length === 1, 'the backoff');
    assert.equal(session.readyState, 'reconnecting');
    session.close();
    const closed = await session.closed;
    assert.equal(closed.code, 1000);
    assert.equal(sockets.length, 1);
  });

  test('an AbortSignal closes the session', async () => {
    const controller = new AbortController();
    const { session } = open(tokenCredential(), (ws) => ws.accept(), { signal: controller.signal });
    await session.opened;
    controller.abort();
    const closed = await session.closed;
    assert.equal(closed.code, 1000);
    assert.equal(session.readyState, 'closed');
  });
});

describe('renewal', () => {
  test('session_expiring → getCredential → bouncer.renew → renewed moves the deadline', async () => {
    const fresh = tokenCredential({ max_session_duration: 10 });
    const requests = [];
    const { session, sockets, events } = open(tokenCredential({ max_session_duration: 10 }), (ws) => ws.accept(), {
      getCredential: async (request) => {
        requests.push(request);
        return fresh;
      },
    });
    await session.opened;
    const first = session.deadline;
    assert.ok(first instanceof Date);
    assert.ok(Math.abs(first.getTime() - (Date.now() + 10_000)) < 1000, `deadline from the token's cap: ${first.toISOString()}`);
    sockets[0].message({ type: 'bouncer.session_expiring', secondsLeft: 5 });
    await until(() => sockets[0].sent.length === 1, 'the renew message');
    assert.deepEqual(JSON.parse(sockets[0].sent[0]), { type: 'bouncer.renew', token: fresh.token });
    assert.deepEqual(requests, [{ reason: 'renew', secondsLeft: 5 }]);
    assert.deepEqual(events.expiring, [{ secondsLeft: 5 }]);
    const next = new Date(Date.now() + 10_000);
    next.setMilliseconds(0);
    sockets[0].message({ type: 'bouncer.renewed', deadline: next.toISOString().replace('.000', '') });
    assert.equal(session.deadline.getTime(), next.getTime());
    assert.deepEqual(events.renewed, [{ deadline: session.deadline }]);
    assert.deepEqual(events.message, []);
    assert.deepEqual(events.error, []);
    // A renewal to no cap at all (the next warning comes in a later task, as on a socket).
    await sleep(1);
    sockets[0].message({ type: 'bouncer.session_expiring', secondsLeft: 5 });
    await until(() => sockets[0].sent.length === 2, 'the second renew message');
    sockets[0].message({ type: 'bouncer.renewed', deadline: null });
    assert.equal(session.deadline, null);
    session.close();
    await session.closed;
  });

  test('a signed URL from getCredential gives its token parameter', async () => {
    const jwt = fakeToken().slice(3);
    const { session, sockets } = open(tokenCredential(), (ws) => ws.accept(), {
      getCredential: async () => ({ kind: 'url', url: `wss://b.example/v1/stream?model=echo&token=${jwt}`, expiresAt: '2099-01-01T00:00:00Z' }),
    });
    await session.opened;
    sockets[0].message({ type: 'bouncer.session_expiring', secondsLeft: 30 });
    await until(() => sockets[0].sent.length === 1, 'the renew message');
    assert.deepEqual(JSON.parse(sockets[0].sent[0]), { type: 'bouncer.renew', token: jwt });
    session.close();
    await session.closed;
  });

  test('renew_failed is a RenewError and the session goes on', async () => {
    const { session, sockets, events } = open(tokenCredential(), (ws) => ws.accept(), {
      getCredential: async () => tokenCredential(),
    });
    await session.opened;
    sockets[0].onSend = (data) => {
      if (data.startsWith('{"type":"bouncer.renew"')) sockets[0].message({ type: 'bouncer.renew_failed', error: 'Model not allowed' });
    };
    sockets[0].message({ type: 'bouncer.session_expiring', secondsLeft: 5 });
    await until(() => events.error.length === 1, 'the RenewError');
    assert.ok(events.error[0] instanceof RenewError);
    assert.equal(events.error[0].reason, 'Model not allowed');
    assert.equal(session.readyState, 'open');
    session.send('still here');
    assert.equal(sockets[0].sent.at(-1), 'still here');
    session.close();
    await session.closed;
  });

  test('getCredential failing is a RenewError whose message holds no credential', async () => {
    const secret = fakeToken();
    const { session, sockets, events } = open(tokenCredential(), (ws) => ws.accept(), {
      getCredential: async () => {
        throw new Error(`backend said no for ${secret}`);
      },
    });
    await session.opened;
    sockets[0].message({ type: 'bouncer.session_expiring', secondsLeft: 5 });
    await until(() => events.error.length === 1, 'the RenewError');
    assert.ok(events.error[0] instanceof RenewError);
    assert.ok(!events.error[0].message.includes(secret.slice(3, 40)), events.error[0].message);
    assert.ok(!String(events.error[0].cause?.message).includes(secret.slice(3, 40)), 'nor in its cause');
    assert.match(events.error[0].message, /ek_REDACTED/);
    session.close();
    await session.closed;
  });

  test('renew() by hand resolves with the deadline, or rejects when no answer comes', async () => {
    const { session, sockets } = open(tokenCredential(), (ws) => ws.accept(), { renewTimeoutMs: 50 });
    await session.opened;
    const deadline = '2030-01-01T00:00:00Z';
    sockets[0].onSend = () => sockets[0].message({ type: 'bouncer.renewed', deadline });
    assert.deepEqual(await session.renew(tokenCredential()), { deadline: new Date(deadline) });
    sockets[0].onSend = undefined; // a server that does not know renewal: no answer
    await assert.rejects(session.renew(tokenCredential()), (e) => e instanceof RenewError && /did not answer/.test(e.message));
    session.close();
    await session.closed;
  });
});

describe('no credential in error messages', () => {
  test('a WebSocket constructor error quoting the URL is redacted', async () => {
    const credential = tokenCredential();
    class Throwing {
      constructor(url) {
        throw new SyntaxError(`Failed to construct 'WebSocket': The URL '${url}' is invalid; protocols ${credential.token}`);
      }
    }
    const session = connect(credential, { baseUrl: BASE, model: 'echo', WebSocket: Throwing, credentialIn: 'query' });
    const closed = await session.closed;
    assert.ok(closed.error instanceof BouncerError);
    const text = `${closed.error.message} ${closed.error.cause?.message}`;
    assert.ok(!text.includes(credential.token.slice(3, 30)), text);
    assert.match(text, /api_key=REDACTED/);
  });
});
