// The pure helpers: redaction of every credential shape, and the reconnection delays.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffDelay, redact } from '../src/index.js';

const JWT = 'eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJhYmMifQ.c2lnbmF0dXJlX2J5dGVz';
const SK = `sk_${'x'.repeat(43)}`;

test('redact hides keys, JWTs, query credentials and bouncer.key protocols', () => {
  const cases = [
    [`key ${SK} here`, 'key sk_REDACTED here'],
    [`ek_${JWT}`, 'ek_REDACTED'],
    [`token ${JWT}.`, 'token REDACTED.'],
    [`ws://h/v1/stream?model=echo&api_key=ek_${JWT}&resume=abc`, 'ws://h/v1/stream?model=echo&api_key=REDACTED&resume=abc'],
    [`ws://h/v1/stream?model=echo&token=${JWT}`, 'ws://h/v1/stream?model=echo&token=REDACTED'],
    [`protocols bouncer.key.ek_${JWT},bouncer.v1`, 'protocols bouncer.key.REDACTED,bouncer.v1'],
    ['adm_abcdefgh and whsec_abcdefgh', 'adm_REDACTED and whsec_REDACTED'],
    ['Unknown model (close 1008)', 'Unknown model (close 1008)'],
  ];
  for (const [input, expected] of cases) assert.equal(redact(input), expected, input);
  assert.equal(redact('opaque-secret-value in text', ['opaque-secret-value']), 'REDACTED in text');
});

test('backoffDelay doubles from the base, is capped, and stays in the upper half of its step', () => {
  const limits = { baseDelayMs: 100, maxDelayMs: 1000 };
  const steps = [100, 200, 400, 800, 1000, 1000, 1000];
  steps.forEach((step, i) => {
    const attempt = i + 1;
    assert.equal(backoffDelay(attempt, limits, () => 0), step / 2, `attempt ${attempt}, lowest`);
    assert.equal(backoffDelay(attempt, limits, () => 1), step, `attempt ${attempt}, highest`);
    for (let k = 0; k < 50; k += 1) {
      const d = backoffDelay(attempt, limits);
      assert.ok(d >= step / 2 && d <= step, `attempt ${attempt}: ${d} within [${step / 2}, ${step}]`);
    }
  });
});
