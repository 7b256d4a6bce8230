// How long to wait before reconnection attempt `attempt` (1, 2, …): exponential from
// baseDelayMs, capped at maxDelayMs, with "equal jitter" (a random point in the upper half of
// the step) so that many clients dropped at once do not come back at once, yet none comes back
// at once either.
export const DEFAULT_RECONNECT = Object.freeze({ maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 15_000 });

export function backoffDelay(attempt, { baseDelayMs, maxDelayMs }, random = Math.random) {
  const step = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

// The reconnect option as limits, or null when reconnection is off.
export function reconnectLimits(option) {
  if (option === false || option === null) return null;
  const limits = { ...DEFAULT_RECONNECT, ...(option === true || option === undefined ? {} : option) };
  for (const name of ['maxAttempts', 'baseDelayMs', 'maxDelayMs']) {
    if (!Number.isFinite(limits[name]) || limits[name] < 0) {
      throw new TypeError(`reconnect.${name} must be a number ≥ 0`);
    }
  }
  if (limits.maxAttempts === 0) return null;
  return limits;
}
