// Acknowledged means durable, repeatedly: cycle after cycle, mint under load and revoke keys
// (over HTTP and with the CLI) while the mints run, kill -9 the server with requests in flight,
// restart it on the same data dir, and find EVERY mint answered 200 and EVERY revocation
// acknowledged so far; each restart must be clean (no warning, no new default key).
// 20 cycles under CI=true, 3 otherwise (DURABILITY_CYCLES to choose); scripts/soak runs 100.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { runKillCycles } from '../lib/kill_cycles.mjs';

const CYCLES = Number(process.env.DURABILITY_CYCLES || (process.env.CI === 'true' ? 20 : 3));
// A failing run prints its seed; DURABILITY_SEED repeats its choices (load times, revocation moments).
const SEED = process.env.DURABILITY_SEED ? Number(process.env.DURABILITY_SEED) : Date.now() >>> 0;

test(`every acknowledged mint and revocation survives ${CYCLES} kill -9 cycles`, { timeout: 530_000 }, async () => {
  assert.ok(Number.isInteger(CYCLES) && CYCLES >= 1, `DURABILITY_CYCLES must be a positive integer, got ${process.env.DURABILITY_CYCLES}`);
  const started = performance.now();
  const result = await runKillCycles({ cycles: CYCLES, seed: SEED });
  const total = result.figures.reduce((sum, f) => sum + f.answered, 0);
  console.log(
    `durability: ${CYCLES} cycles (seed ${result.seed}) in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      `${total} mints answered 200 and ${result.revocations} revocations acknowledged, none lost`,
  );
  assert.equal(result.figures.length, CYCLES);
});
