#!/usr/bin/env bash
# End-to-end mint benchmark (BENCHMARKS.md): wrk POSTs /v1/client/tokens to the release
# server on 127.0.0.1, and we report mints/s, latency, the server's CPU time per mint, and
# that CPU time as a multiple of one libsodium Ed25519 signature measured in the same run.
#
# Builds nothing. Build first:   cmake --preset release && cmake --build build/release -j2
# Run:                           bench/run-mint.sh
#
# Knobs (environment):
#   CONNECTIONS=64   wrk -c;  DURATION=10s  wrk -d (bounded; wrk is also under `timeout`)
#   PIN=1            server on CPU 0 (with --threads 1), wrk on CPU 1, via taskset; PIN=0: no pinning
#   SERVER_THREADS   --threads for the server (default 1 when pinned, else 0 = one per core)
#   BENCH_TMPDIR     where the temporary data dir goes (default $TMPDIR or /tmp); it should be a
#                    real disk, since every mint is made durable by a SQLite fsync
#   COUNT_FSYNCS=1   also count the server's fsync/fdatasync calls with `perf stat` (if it can)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$ROOT/build/release/bouncer
MICRO=$ROOT/build/release/bench/bouncer_microbench
for f in "$BIN" "$MICRO"; do
  if [[ ! -x $f ]]; then
    echo "run-mint.sh: $f is missing. Build it first:" >&2
    echo "  cmake --preset release && cmake --build build/release -j2" >&2
    exit 1
  fi
done
command -v wrk >/dev/null || { echo "run-mint.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
PIN=${PIN:-1}
COUNT_FSYNCS=${COUNT_FSYNCS:-1}
if [[ $PIN == 1 && $(nproc) -lt 2 ]]; then PIN=0; fi
if [[ $PIN == 1 ]]; then
  SERVER_THREADS=${SERVER_THREADS:-1}
  PIN_SERVER=(taskset -c 0)
  PIN_CLIENT=(taskset -c 1)
else
  SERVER_THREADS=${SERVER_THREADS:-0}
  PIN_SERVER=()
  PIN_CLIENT=()
fi
TICKS=$(getconf CLK_TCK)

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/bouncer-bench.XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fs_type=$(stat -f -c %T "$WORK")
[[ $fs_type == tmpfs ]] && echo "warning: $WORK is on tmpfs: fsync is free there, the figures will flatter the store" >&2

# utime + stime of the whole process (all threads), in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# One line per thread: TID utime stime wchar (bytes passed to write/pwrite; sockets written
# with sendmsg do not count, so the SQLite writer thread is the one with the most).
thread_snapshot() {
  local t
  for t in /proc/"$1"/task/*; do
    echo "${t##*/} $(awk '{ sub(/^.*\) /, ""); print $12, $13 }' "$t/stat" 2>/dev/null) $(awk '$1 == "wchar:" { print $2 }' "$t/io" 2>/dev/null)"
  done | sort
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== tree: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/'); bouncer built $(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ)"
echo "== data dir: $WORK ($fs_type)"

# 1. The baseline: one libsodium signature (crypto_sign_detached over a typical JWT signing
#    input), on the core the server will use, before the server starts.
echo "== micro: ${PIN_SERVER[*]} $MICRO --benchmark_filter='^BM_(libsodium_sign|token_sign)\$' --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_format=csv"
micro_csv=$("${PIN_SERVER[@]}" "$MICRO" --benchmark_filter='^BM_(libsodium_sign|token_sign)$' --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_format=csv 2>/dev/null)
# csv: name,iterations,real_time,cpu_time,time_unit,...
median_ns() { echo "$micro_csv" | awk -F, -v n="\"$1_median\"" '$1 == n { print $4; exit }'; }
SIGN_NS=$(median_ns BM_libsodium_sign)
TOKEN_SIGN_NS=$(median_ns BM_token_sign)
[[ -n $SIGN_NS ]] || { echo "run-mint.sh: could not read BM_libsodium_sign from the micro-benchmark" >&2; exit 1; }
printf 'libsodium sign (median of 5): %.0f ns; token::sign: %.0f ns\n' "$SIGN_NS" "$TOKEN_SIGN_NS"

# 2. The server.
SERVER_CMD=("${PIN_SERVER[@]}" "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-level warn --threads "$SERVER_THREADS")
echo "== server: ${SERVER_CMD[*]}"
"${SERVER_CMD[@]}" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
URL=
for _ in $(seq 1 100); do  # at most 10 s
  URL=$(grep -o -m1 'http://127\.0\.0\.1:[0-9]*' "$WORK/server.out" 2>/dev/null || true)
  [[ -n $URL ]] && grep -q 'sk_' "$WORK/server.out" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; echo "run-mint.sh: the server exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n $URL ]] || { echo "run-mint.sh: the server did not print its address and first key within 10 s" >&2; exit 1; }
(umask 077; grep -o -m1 'sk_[A-Za-z0-9_-]*' "$WORK/server.out" >"$WORK/key")
export BOUNCER_KEY_FILE=$WORK/key
TARGET=$URL/v1/client/tokens

# Warm-up (not counted): connections, allocator, SQLite page cache.
timeout 30 "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d2s -s bench/mint.lua "$TARGET" >"$WORK/warmup.out"
grep -q 'mint_status ok=[1-9]' "$WORK/warmup.out" || { cat "$WORK/warmup.out" >&2; echo "run-mint.sh: warm-up minted nothing" >&2; exit 1; }

# 3. The measured run.
WRK_CMD=("${PIN_CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/mint.lua "$TARGET")
echo "== load: ${WRK_CMD[*]}"
PERF_PID=
if [[ $COUNT_FSYNCS == 1 ]] && perf stat -e 'syscalls:sys_enter_fdatasync' true >/dev/null 2>&1; then
  perf stat -x, -e 'syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync' -p "$SERVER_PID" -o "$WORK/perf.out" &
  PERF_PID=$!
  sleep 0.2
fi
thread_snapshot "$SERVER_PID" >"$WORK/threads.before"
before=$(cpu_ticks "$SERVER_PID")
timeout 120 "${WRK_CMD[@]}" | tee "$WORK/wrk.out"
after=$(cpu_ticks "$SERVER_PID")
thread_snapshot "$SERVER_PID" >"$WORK/threads.after"
if [[ -n $PERF_PID ]]; then
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
fi

ok=$(sed -n 's/^mint_status ok=\([0-9]*\) other=\([0-9]*\)$/\1/p' "$WORK/wrk.out")
other=$(sed -n 's/^mint_status ok=\([0-9]*\) other=\([0-9]*\)$/\2/p' "$WORK/wrk.out")
duration_us=$(sed -n 's/^mint_duration_us \([0-9]*\)$/\1/p' "$WORK/wrk.out")
read -r p50 p99 < <(sed -n 's/^mint_latency_us p50=\([0-9]*\) p90=[0-9]* p99=\([0-9]*\) .*$/\1 \2/p' "$WORK/wrk.out")
[[ -n $ok && $ok -gt 0 ]] || { echo "run-mint.sh: no 200 answers" >&2; exit 1; }
fsyncs=
if [[ -n $PERF_PID && -s $WORK/perf.out ]]; then
  fsyncs=$(awk -F, '$3 ~ /sys_enter_f(data)?sync/ && $1 ~ /^[0-9]+$/ { s += $1 } END { print s + 0 }' "$WORK/perf.out")
fi

echo
echo "== result (${CONNECTIONS} connections, ${DURATION}, server threads ${SERVER_THREADS}, pinned: $([[ $PIN == 1 ]] && echo 'server CPU 0, wrk CPU 1' || echo no))"
awk -v ok="$ok" -v other="$other" -v dur="$duration_us" -v p50="$p50" -v p99="$p99" \
    -v ticks="$((after - before))" -v hz="$TICKS" -v sign="$SIGN_NS" -v tsign="$TOKEN_SIGN_NS" -v fsyncs="$fsyncs" 'BEGIN {
  cpu_s = ticks / hz
  per_mint_us = cpu_s * 1e6 / ok
  printf "mints (200):            %d  (other statuses: %d)\n", ok, other
  printf "mints/s:                %.0f\n", ok / (dur / 1e6)
  printf "latency p50 / p99:      %.2f ms / %.2f ms\n", p50 / 1000, p99 / 1000
  printf "server CPU:             %.2f s over %.2f s (%.2f cores busy)\n", cpu_s, dur / 1e6, cpu_s / (dur / 1e6)
  printf "server CPU per mint:    %.1f us\n", per_mint_us
  printf "one libsodium sign:     %.1f us   (token::sign: %.1f us)\n", sign / 1000, tsign / 1000
  printf "ratio CPU/mint : sign:  %.2fx   (target <= 2x: %s)\n", per_mint_us * 1000 / sign, (per_mint_us * 1000 / sign <= 2 ? "met" : "NOT met")
  if (fsyncs != "") printf "fsync+fdatasync calls:  %d  (%.1f mints per call)\n", fsyncs, (fsyncs > 0 ? ok / fsyncs : 0)
}'

# Where the server's CPU went, per thread (utime = user space, stime = kernel).
echo
echo "== server CPU per mint by thread (us; user + kernel)"
join "$WORK/threads.before" "$WORK/threads.after" | awk -v ok="$ok" -v hz="$TICKS" '
  { tid[NR] = $1; u[NR] = ($5 - $2) / hz; s[NR] = ($6 - $3) / hz; w[NR] = $7 - $4; total += u[NR] + s[NR]
    if (NR == 1 || w[NR] > w[best]) best = NR }
  END {
    for (i = 1; i <= NR; i++) {
      if (i == best && w[i] > 0) role = "store writer (SQLite + fsync)"
      else if (u[i] + s[i] > 0.05 * total) role = "I/O thread (HTTP, auth, sign)"
      else role = "other (main, state sync)"
      printf "  tid %-8s %-30s user %6.1f  kernel %6.1f  total %6.1f   written %5.1f KB/mint\n", tid[i], role,
        u[i] * 1e6 / ok, s[i] * 1e6 / ok, (u[i] + s[i]) * 1e6 / ok, w[i] / 1024 / ok
    }
  }'
