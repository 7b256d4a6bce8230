#!/usr/bin/env bash
# WebSocket door benchmark (BENCHMARKS.md, "WebSocket door"): the release `bouncer` relaying
# to the example model server (echo), against the model server alone ("direct"), measured by
# bench/ws/load.cpp (bouncer_wsload). Everything is on 127.0.0.1.
#
# Scenarios, each run via Bouncer and direct, interleaved (A B A B …), ROUNDS times:
#   admit    connect + handshake + one 64 B text message and its echo + close, ADMIT_CONCURRENCY
#            in flight; via Bouncer each admission presents an ek_ token of its own (minted
#            beforehand by `bouncer_wsload mint`, never reused)
#   tp1k     1 session, WINDOW binary messages of 1 KiB in flight, echoed bytes counted
#   tp64k    the same with 64 KiB messages
#   latency  LAT_SESSIONS sessions, LAT_RATE 64 B text messages/s offered on an open-loop
#            schedule, latency from each message's due time to its echo
# For each run: the client's figures, plus the CPU time (utime + stime from /proc/PID/stat)
# of Bouncer and of the model server over the run → Bouncer CPU µs per admission and per
# relayed frame. The summary gives the median of the rounds.
#
# Builds nothing. Build first:
#   cmake --preset release && cmake --build build/release -j2 --target bouncer model-server bouncer_wsload
# Run:
#   bench/run-door.sh
#
# Knobs (environment):
#   ROUNDS=3  DURATION=10 (seconds per run, at most 15)  SCENARIOS="admit tp1k tp64k latency"
#   ADMIT_CONCURRENCY=32  ADMIT_MAX=40000 (admissions per run via Bouncer at most: the tokens
#   minted per round; a run that uses them all ends early and says so)  DIRECT_ADMIT_MAX=100000
#   WINDOW=64  LAT_RATE=5000  LAT_SESSIONS=100  CLIENT_THREADS=1
#   LAYOUT=split  Bouncer (--threads 1) on CPU 0; the model server and the load client on
#                 CPU 1 (taskset). Via Bouncer every echo then crosses between the CPUs four
#                 times, direct never (see BENCHMARKS.md on this VM's cross-CPU wake-ups).
#   LAYOUT=one    all three on CPU 0 (Bouncer --threads 1): no cross-CPU hand-off either way,
#                 but Bouncer shares its core with the client and the model server.
#   LAYOUT=cross  Bouncer and the model server on CPU 0, the client on CPU 1: direct and via
#                 Bouncer alike, every echo crosses between the CPUs twice (for latency only:
#                 direct then has two cores, Bouncer and the model server share one).
#   LAYOUT=none   nothing pinned, Bouncer with one I/O thread per core.   (PIN=0 = LAYOUT=none)
#   RT=1       during the measured runs, Bouncer, the model server and the client run SCHED_FIFO
#              (chrt -f 10; the kernel's RT throttling still leaves others 5 % of each CPU). On
#              this shared VM, a process woken from another CPU otherwise often waits
#              milliseconds to tens of ms behind the other engineers' compilers, and the relay's
#              figures measure that wait, not Bouncer (BENCHMARKS.md). RT=0: normal scheduling.
#   PROFILE=1  also `perf record -e cpu-clock -F 1999 -g` Bouncer during each run via Bouncer and
#              print where its CPU goes per operation (perf slows it a little: take the speed
#              figures from runs without it). Data files stay in bench/results/ (git-ignored).
#              E.g. PROFILE=1 ROUNDS=1 SCENARIOS="admit latency" bench/run-door.sh
#   BENCH_TMPDIR  where the temporary data dir goes (default $TMPDIR or /tmp)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$ROOT/build/release/bouncer
MODEL_SERVER=$ROOT/build/release/examples/model-server/model-server
LOAD=$ROOT/build/release/bench/bouncer_wsload
for f in "$BIN" "$MODEL_SERVER" "$LOAD"; do
  if [[ ! -x $f ]]; then
    echo "run-door.sh: $f is missing. Build it first:" >&2
    echo "  cmake --preset release && cmake --build build/release -j2 --target bouncer model-server bouncer_wsload" >&2
    exit 1
  fi
done

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
SCENARIOS=${SCENARIOS:-"admit tp1k tp64k latency"}
ADMIT_CONCURRENCY=${ADMIT_CONCURRENCY:-32}
ADMIT_MAX=${ADMIT_MAX:-40000}
DIRECT_ADMIT_MAX=${DIRECT_ADMIT_MAX:-100000}  # direct: no token needed, so only the duration bounds it in practice
WINDOW=${WINDOW:-64}
LAT_RATE=${LAT_RATE:-5000}
LAT_SESSIONS=${LAT_SESSIONS:-100}
CLIENT_THREADS=${CLIENT_THREADS:-1}
LAYOUT=${LAYOUT:-split}
RT=${RT:-1}
PROFILE=${PROFILE:-0}
if [[ $PROFILE == 1 ]]; then command -v perf >/dev/null || { echo "run-door.sh: PROFILE=1 needs perf" >&2; exit 1; }; fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[[ ${PIN:-1} == 0 ]] && LAYOUT=none
(( DURATION >= 1 && DURATION <= 15 )) || { echo "run-door.sh: DURATION must be 1..15 seconds" >&2; exit 1; }
(( ROUNDS >= 1 && ROUNDS <= 9 )) || { echo "run-door.sh: ROUNDS must be 1..9" >&2; exit 1; }
if [[ $LAYOUT == split && $(nproc) -lt 2 ]]; then LAYOUT=one; fi
case $LAYOUT in
  split) SERVER_THREADS=1; PIN_SERVER=(taskset -c 0); PIN_MODEL=(taskset -c 1); PIN_CLIENT=(taskset -c 1)
         LAYOUT_TEXT="bouncer --threads 1 on CPU 0; model-server and bouncer_wsload on CPU 1" ;;
  one)   SERVER_THREADS=1; PIN_SERVER=(taskset -c 0); PIN_MODEL=(taskset -c 0); PIN_CLIENT=(taskset -c 0)
         LAYOUT_TEXT="bouncer --threads 1, model-server and bouncer_wsload all on CPU 0" ;;
  cross) SERVER_THREADS=1; PIN_SERVER=(taskset -c 0); PIN_MODEL=(taskset -c 0); PIN_CLIENT=(taskset -c 1)
         LAYOUT_TEXT="bouncer --threads 1 and model-server on CPU 0; bouncer_wsload on CPU 1" ;;
  none)  SERVER_THREADS=0; PIN_SERVER=(); PIN_MODEL=(); PIN_CLIENT=()
         LAYOUT_TEXT="nothing pinned; bouncer --threads 0 (one I/O thread per core)" ;;
  *) echo "run-door.sh: LAYOUT is split, one, cross or none" >&2; exit 1 ;;
esac
TICKS=$(getconf CLK_TCK)
RUN_TIMEOUT=$((DURATION + 45))  # the client's own watchdog stops it well before

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/bouncer-door.XXXXXX")
SERVER_PID=
MODEL_PID=
stop_process() {
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_process "$SERVER_PID"
  stop_process "$MODEL_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
threads_of() { awk '$1 == "Threads:" { print $2 }' "/proc/$1/status"; }
# value of key=value in a RESULT line
kv() { sed -n "s/^.* $1=\([^ ]*\).*\$/\1/p" <<<"$2"; }
# "busy idle" jiffies of each CPU (all processes, ours and everyone else's), one CPU a line
cpu_jiffies() { awk '$1 ~ /^cpu[0-9]+$/ { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
busy_percent() {  # before after → "cpu0 NN% cpu1 NN% …"
  paste -d' ' <(echo "$1") <(echo "$2") | awk '{ b = $3 - $1; i = $4 - $2; printf "cpu%d %.0f%% ", NR - 1, (b + i > 0 ? 100 * b / (b + i) : 0) }'
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== tree: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src examples 2>/dev/null || echo ' + uncommitted changes in src/ or examples/'); bouncer built $(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ), model-server $(date -u -r "$MODEL_SERVER" +%Y-%m-%dT%H:%MZ), bouncer_wsload $(date -u -r "$LOAD" +%Y-%m-%dT%H:%MZ)"
echo "== layout $LAYOUT: $LAYOUT_TEXT; scheduling during the runs: $([[ $RT == 1 ]] && echo 'SCHED_FIFO priority 10 (chrt) for bouncer, model-server and bouncer_wsload' || echo 'normal (SCHED_OTHER)')"
echo "== data dir: $WORK ($(stat -f -c %T "$WORK"))"

# Where Bouncer's CPU went during a profiled run: $1 perf data, $2 Bouncer CPU µs per unit, $3 unit.
profile_report() {
  local data=$1 per=$2 unit=$3
  report() { perf report -i "$data" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep -v '^$' || true; }
  echo "   -- profile: $data (perf report -i $data --children); Bouncer CPU per $unit under perf: $per us"
  echo "   -- by thread and library (self time; us/$unit = share x CPU per $unit)"
  report --no-children --sort pid,dso | head -12 |
    awk -v pm="$per" -v u="$unit" '{ p = $1; sub(/%/, "", p); printf "      %s   ~%6.1f us/%s\n", $0, p * pm / 100, u }' || true
  echo "   -- kernel time by system call (children)"
  report --children --sort sym | grep -E '\[k\] (__x64_sys_[a-z0-9_]+|__sys_(send|recv)msg|asm_sysvec_[a-z_]+|irqentry_exit_to_user_mode)$' | head -12 |
    awk -v pm="$per" -v u="$unit" '{ p = $1; sub(/%/, "", p); printf "      %s   ~%6.1f us/%s\n", $0, p * pm / 100, u }' || true
  echo "   -- top functions (self time)"
  report --no-children --sort dso,sym | head -25 | cut -c1-150 | sed 's/^/      /' || true
}

# 1. The upstream: the example model server (echo).
MODEL_CMD=("${PIN_MODEL[@]}" "$MODEL_SERVER" --listen 127.0.0.1:0 --port-file "$WORK/model.port")
echo "== model server: ${MODEL_CMD[*]}"
"${MODEL_CMD[@]}" >"$WORK/model.out" 2>"$WORK/model.err" &
MODEL_PID=$!
for _ in $(seq 1 100); do
  [[ -s $WORK/model.port ]] && break
  kill -0 "$MODEL_PID" 2>/dev/null || { cat "$WORK/model.err" >&2; echo "run-door.sh: the model server exited" >&2; exit 1; }
  sleep 0.1
done
[[ -s $WORK/model.port ]] || { echo "run-door.sh: the model server wrote no port within 10 s" >&2; exit 1; }
MODEL_PORT=$(tr -d '[:space:]' <"$WORK/model.port")
DIRECT_URL=ws://127.0.0.1:$MODEL_PORT/

# 2. Bouncer, with model `up` → the model server.
cat >"$WORK/bouncer.toml" <<EOF
[models.up]
upstream = "ws://127.0.0.1:$MODEL_PORT/"
EOF
SERVER_CMD=("${PIN_SERVER[@]}" "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --config "$WORK/bouncer.toml" --log-level warn --threads "$SERVER_THREADS")
echo "== bouncer: ${SERVER_CMD[*]}"
echo "   $WORK/bouncer.toml: [models.up] upstream = \"ws://127.0.0.1:$MODEL_PORT/\""
"${SERVER_CMD[@]}" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
HTTP_URL=
for _ in $(seq 1 100); do
  HTTP_URL=$(grep -o -m1 'http://127\.0\.0\.1:[0-9]*' "$WORK/server.out" 2>/dev/null || true)
  [[ -n $HTTP_URL ]] && grep -q 'sk_' "$WORK/server.out" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; echo "run-door.sh: bouncer exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n $HTTP_URL ]] || { echo "run-door.sh: bouncer did not print its address and first key within 10 s" >&2; exit 1; }
(umask 077; grep -o -m1 'sk_[A-Za-z0-9_-]*' "$WORK/server.out" >"$WORK/key")
BOUNCER_URL=ws://${HTTP_URL#http://}

# 3. Tokens: one per admission via Bouncer (ADMIT_MAX per round), plus warm-up and session ones.
need_admit=0
for s in $SCENARIOS; do [[ $s == admit ]] && need_admit=1; done
WARM_TOKENS=2000
TOTAL_TOKENS=$((WARM_TOKENS + 200 + need_admit * ROUNDS * ADMIT_MAX))
MINT_CMD=("${PIN_CLIENT[@]}" "$LOAD" mint --url "$HTTP_URL" --key-file "$WORK/key" --count "$TOTAL_TOKENS" --concurrency 64 --duration 110 --out "$WORK/tokens.all" --body '{"expiresIn":3600,"allowedModels":["up"]}')
echo "== tokens: ${MINT_CMD[*]}"
timeout 150 "${MINT_CMD[@]}" | grep -v '^RESULT'
minted=$(wc -l <"$WORK/tokens.all")
(( minted >= WARM_TOKENS + 200 )) || { echo "run-door.sh: only $minted tokens minted" >&2; exit 1; }
sed -n "1,200p" "$WORK/tokens.all" >"$WORK/session.tokens"
sed -n "201,$((200 + WARM_TOKENS))p" "$WORK/tokens.all" >"$WORK/warm.tokens"
for r in $(seq 1 "$ROUNDS"); do
  first=$((200 + WARM_TOKENS + (r - 1) * ADMIT_MAX + 1))
  sed -n "${first},$((first + ADMIT_MAX - 1))p" "$WORK/tokens.all" >"$WORK/admit-$r.tokens"
done

# The client's arguments for scenario $1 via $2 (bouncer|direct) in round $3.
load_args() {
  local scenario=$1 via=$2 round=$3 target=()
  if [[ $via == bouncer ]]; then
    if [[ $scenario == admit ]]; then
      target=(--url "$BOUNCER_URL" --model up --tokens "$WORK/admit-$round.tokens")
    else
      target=(--url "$BOUNCER_URL" --model up --tokens "$WORK/session.tokens")
    fi
  else
    target=(--url "$DIRECT_URL")
  fi
  case $scenario in
    admit) ARGS=(admit "${target[@]}" --concurrency "$ADMIT_CONCURRENCY" --duration "$DURATION" --size 64
                 --max "$([[ $via == bouncer ]] && echo "$ADMIT_MAX" || echo "$DIRECT_ADMIT_MAX")") ;;
    tp1k) ARGS=(throughput "${target[@]}" --size 1024 --window "$WINDOW" --duration "$DURATION") ;;
    tp64k) ARGS=(throughput "${target[@]}" --size 65536 --window "$WINDOW" --duration "$DURATION") ;;
    latency) ARGS=(latency "${target[@]}" --size 64 --rate "$LAT_RATE" --sessions "$LAT_SESSIONS" --duration "$DURATION") ;;
    *) echo "run-door.sh: unknown scenario $scenario" >&2; exit 1 ;;
  esac
  ARGS+=(--threads "$CLIENT_THREADS")
}

# 4. Warm-up (not counted): allocator, page cache, TCP.
echo "== warm-up (not counted)"
timeout 60 "${PIN_CLIENT[@]}" "$LOAD" admit --url "$BOUNCER_URL" --model up --tokens "$WORK/warm.tokens" --concurrency "$ADMIT_CONCURRENCY" --duration 2 --max "$WARM_TOKENS" | grep -v '^RESULT'
timeout 60 "${PIN_CLIENT[@]}" "$LOAD" throughput --url "$BOUNCER_URL" --model up --tokens "$WORK/session.tokens" --size 1024 --duration 1 | grep -v '^RESULT'
timeout 60 "${PIN_CLIENT[@]}" "$LOAD" admit --url "$DIRECT_URL" --concurrency "$ADMIT_CONCURRENCY" --duration 1 --max 2000 | grep -v '^RESULT'
sleep 1
BASE_FDS=$(fd_count "$SERVER_PID")
BASE_RSS=$(rss_kb "$SERVER_PID")
BASE_MODEL_FDS=$(fd_count "$MODEL_PID")
echo "== bouncer after warm-up: $BASE_FDS fds, RSS $BASE_RSS KiB, $(threads_of "$SERVER_PID") threads; model-server: $BASE_MODEL_FDS fds"

# 5. The runs. One line per run in $WORK/runs.tsv.
RUN_PREFIX=("${PIN_CLIENT[@]}")
if [[ $RT == 1 ]]; then
  # Every thread of both servers; the client is started under chrt below.
  chrt -a -f -p 10 "$SERVER_PID" >/dev/null && chrt -a -f -p 10 "$MODEL_PID" >/dev/null ||
    { echo "run-door.sh: chrt failed (RT=1 needs root or CAP_SYS_NICE; RT=0 runs without)" >&2; exit 1; }
  RUN_PREFIX=(chrt -f 10 "${PIN_CLIENT[@]}")
fi
: >"$WORK/runs.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    for via in bouncer direct; do
      load_args "$scenario" "$via" "$round"
      kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; echo "run-door.sh: bouncer died" >&2; exit 1; }
      kill -0 "$MODEL_PID" 2>/dev/null || { echo "run-door.sh: the model server died" >&2; exit 1; }
      tw=$(ss -tan state time-wait 2>/dev/null | tail -n +2 | wc -l)
      echo
      echo "== round $round, $scenario via $via (load average $(cut -d' ' -f1 /proc/loadavg), $tw sockets in TIME-WAIT): ${RUN_PREFIX[*]} bouncer_wsload ${ARGS[*]}"
      b0=$(cpu_ticks "$SERVER_PID"); m0=$(cpu_ticks "$MODEL_PID"); j0=$(cpu_jiffies)
      PERF_PID=
      if [[ $PROFILE == 1 && $via == bouncer ]]; then
        mkdir -p "$ROOT/bench/results"
        PERF_DATA=$ROOT/bench/results/perf.door.$scenario.$round.$STAMP.data
        perf record -q -e cpu-clock -F 1999 -g -p "$SERVER_PID" -o "$PERF_DATA" 2>/dev/null &
        PERF_PID=$!
        sleep 0.3
        b0=$(cpu_ticks "$SERVER_PID")
      fi
      set +e
      timeout "$RUN_TIMEOUT" "${RUN_PREFIX[@]}" "$LOAD" "${ARGS[@]}" >"$WORK/run.out" 2>"$WORK/run.err"
      status=$?
      set -e
      if [[ -n $PERF_PID ]]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
      fi
      b1=$(cpu_ticks "$SERVER_PID"); m1=$(cpu_ticks "$MODEL_PID"); j1=$(cpu_jiffies)
      grep -v '^RESULT' "$WORK/run.out" || true
      sed 's/^/   client stderr: /' "$WORK/run.err"
      line=$(grep '^RESULT' "$WORK/run.out" || true)
      if [[ $status != 0 || -z $line ]]; then
        echo "   run failed (exit $status): no result"
        continue
      fi
      echo "   bouncer CPU $(awk -v t=$((b1 - b0)) -v hz="$TICKS" 'BEGIN { printf "%.2f", t / hz }') s, model-server CPU $(awk -v t=$((m1 - m0)) -v hz="$TICKS" 'BEGIN { printf "%.2f", t / hz }') s, client CPU $(kv client_cpu_s "$line") s; whole machine busy (everyone): $(busy_percent "$j0" "$j1"); bouncer now $(fd_count "$SERVER_PID") fds, RSS $(rss_kb "$SERVER_PID") KiB"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$via" "$round" "$(( b1 - b0 ))" "$(( m1 - m0 ))" "$line" >>"$WORK/runs.tsv"
      if [[ -n $PERF_PID ]]; then
        if [[ $scenario == admit ]]; then
          profile_report "$PERF_DATA" "$(awk -v t=$((b1 - b0)) -v hz="$TICKS" -v n="$(kv ops "$line")" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')" admission
        else
          profile_report "$PERF_DATA" "$(awk -v t=$((b1 - b0)) -v hz="$TICKS" -v n="$(kv echoed "$line")" 'BEGIN { printf "%.2f", t / hz * 1e6 / (2 * n) }')" frame
        fi
      fi
    done
  done
done

if [[ $RT == 1 ]]; then
  chrt -a -o -p 0 "$SERVER_PID" >/dev/null || true
  chrt -a -o -p 0 "$MODEL_PID" >/dev/null || true
fi

# 6. Leaks: after the last run, open sockets and memory should be back to the warm-up level.
sleep 2
END_FDS=$(fd_count "$SERVER_PID"); END_RSS=$(rss_kb "$SERVER_PID"); END_MODEL_FDS=$(fd_count "$MODEL_PID")
echo
echo "== bouncer 2 s after the last run: $END_FDS fds (after warm-up: $BASE_FDS), RSS $END_RSS KiB (after warm-up: $BASE_RSS), $(threads_of "$SERVER_PID") threads; model-server: $END_MODEL_FDS fds (after warm-up: $BASE_MODEL_FDS)"
if [[ -s $WORK/server.err ]]; then
  echo "== bouncer stderr (warn and above), first 20 lines of $(wc -l <"$WORK/server.err"):"
  head -20 "$WORK/server.err" | sed 's/^/   /'
fi
grep -v '^session \|^warning: no --secret' "$WORK/model.err" | head -10 | sed 's/^/   model-server: /' || true

# 7. Summary: medians over the rounds.
echo
echo "== summary (layout $LAYOUT, RT=$RT): median of $ROUNDS round(s), ${DURATION} s per run; CPU from /proc/PID/stat (utime+stime, all threads)"
awk -F'\t' -v hz="$TICKS" '
  function get(line, key,   m) { if (match(line, " " key "=[^ ]*")) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2); return "" }
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    if (n == 0 || vals[key] == "") return "-"
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function add(key, v) { vals[key] = (vals[key] == "" ? "" : vals[key] " ") v; seen[key] = 1 }
  {
    s = $1; via = $2; bcpu = $4 / hz; mcpu = $5 / hz; line = $6
    k = s SUBSEP via
    add(k SUBSEP "bcpu_busy", bcpu / get(line, "elapsed_s"))
    add(k SUBSEP "mcpu_busy", mcpu / get(line, "elapsed_s"))
    add(k SUBSEP "client_cpu", get(line, "client_cpu_s") / get(line, "elapsed_s"))
    add(k SUBSEP "errors", get(line, "errors") + 0)
    if (s == "admit") {
      ops = get(line, "ops")
      add(k SUBSEP "rate", get(line, "ops_per_s")); add(k SUBSEP "p50", get(line, "p50_us")); add(k SUBSEP "p99", get(line, "p99_us"))
      if (ops > 0) { add(k SUBSEP "bcpu_op", bcpu * 1e6 / ops); add(k SUBSEP "mcpu_op", mcpu * 1e6 / ops) }
    } else if (s == "latency") {
      e = get(line, "echoed")
      add(k SUBSEP "p50", get(line, "p50_us")); add(k SUBSEP "p99", get(line, "p99_us")); add(k SUBSEP "p999", get(line, "p999_us"))
      add(k SUBSEP "max", get(line, "max_us")); add(k SUBSEP "sent_rate", get(line, "sent_per_s")); add(k SUBSEP "lost", get(line, "lost"))
      add(k SUBSEP "lag99", get(line, "lag_p99_us"))
      if (e > 0) { add(k SUBSEP "bcpu_frame", bcpu * 1e6 / (2 * e)); add(k SUBSEP "mcpu_msg", mcpu * 1e6 / e) }
    } else {
      e = get(line, "echoed")
      add(k SUBSEP "mbs", get(line, "mb_per_s")); add(k SUBSEP "msgs", get(line, "msgs_per_s")); add(k SUBSEP "lost", get(line, "lost"))
      if (e > 0) { add(k SUBSEP "bcpu_frame", bcpu * 1e6 / (2 * e)); add(k SUBSEP "mcpu_msg", mcpu * 1e6 / e) }
    }
    scen[s] = 1
  }
  END {
    if ("admit" in scen) {
      printf "\nadmit (connect + handshake + 64 B echo + close, per operation)\n"
      printf "  %-8s %10s %10s %10s %7s %14s %10s %14s %10s\n", "via", "admits/s", "p50 us", "p99 us", "errors", "bouncer us/op", "bouncer %", "model us/op", "client %"
      for (v = 0; v < 2; v++) { via = v ? "direct" : "bouncer"; k = "admit" SUBSEP via
        printf "  %-8s %10.0f %10.0f %10.0f %7d %14s %9.0f%% %14.1f %9.0f%%\n", via, median(k SUBSEP "rate"), median(k SUBSEP "p50"), median(k SUBSEP "p99"),
          median(k SUBSEP "errors"), (via == "bouncer" ? sprintf("%.1f", median(k SUBSEP "bcpu_op")) : "-"), 100 * median(k SUBSEP "bcpu_busy"),
          median(k SUBSEP "mcpu_op"), 100 * median(k SUBSEP "client_cpu") }
      printf "  ratio bouncer/direct admissions/s: %.2f\n", median("admit" SUBSEP "bouncer" SUBSEP "rate") / median("admit" SUBSEP "direct" SUBSEP "rate")
    }
    for (t = 0; t < 2; t++) { s = t ? "tp64k" : "tp1k"; if (!(s in scen)) continue
      printf "\n%s (1 session, window of binary messages in flight, echoed payload counted; 1 MB = 10^6 B)\n", s
      printf "  %-8s %10s %10s %7s %6s %18s %10s %15s %10s\n", "via", "MB/s", "msg/s", "errors", "lost", "bouncer us/frame", "bouncer %", "model us/msg", "client %"
      for (v = 0; v < 2; v++) { via = v ? "direct" : "bouncer"; k = s SUBSEP via
        printf "  %-8s %10.1f %10.0f %7d %6d %18s %9.0f%% %15.2f %9.0f%%\n", via, median(k SUBSEP "mbs"), median(k SUBSEP "msgs"), median(k SUBSEP "errors"),
          median(k SUBSEP "lost"), (via == "bouncer" ? sprintf("%.2f", median(k SUBSEP "bcpu_frame")) : "-"), 100 * median(k SUBSEP "bcpu_busy"),
          median(k SUBSEP "mcpu_msg"), 100 * median(k SUBSEP "client_cpu") }
      printf "  ratio bouncer/direct MB/s: %.2f\n", median(s SUBSEP "bouncer" SUBSEP "mbs") / median(s SUBSEP "direct" SUBSEP "mbs")
    }
    if ("latency" in scen) {
      printf "\nlatency (open loop, 64 B text, from due time to echo)\n"
      printf "  %-8s %9s %9s %9s %9s %9s %10s %6s %7s %18s %10s %10s\n", "via", "p50 us", "p99 us", "p99.9 us", "max us", "sent/s", "lag p99 us", "lost", "errors", "bouncer us/frame", "bouncer %", "client %"
      for (v = 0; v < 2; v++) { via = v ? "direct" : "bouncer"; k = "latency" SUBSEP via
        printf "  %-8s %9.0f %9.0f %9.0f %9.0f %9.0f %10.0f %6d %7d %18s %9.0f%% %9.0f%%\n", via, median(k SUBSEP "p50"), median(k SUBSEP "p99"), median(k SUBSEP "p999"),
          median(k SUBSEP "max"), median(k SUBSEP "sent_rate"), median(k SUBSEP "lag99"), median(k SUBSEP "lost"), median(k SUBSEP "errors"),
          (via == "bouncer" ? sprintf("%.2f", median(k SUBSEP "bcpu_frame")) : "-"), 100 * median(k SUBSEP "bcpu_busy"), 100 * median(k SUBSEP "client_cpu") }
      printf "  added by bouncer (difference of the medians): p50 %+.0f us, p99 %+.0f us\n",
        median("latency" SUBSEP "bouncer" SUBSEP "p50") - median("latency" SUBSEP "direct" SUBSEP "p50"),
        median("latency" SUBSEP "bouncer" SUBSEP "p99") - median("latency" SUBSEP "direct" SUBSEP "p99")
    }
  }' "$WORK/runs.tsv"
echo
echo "== every run (scenario, via, round, bouncer CPU ticks, model-server CPU ticks at $TICKS/s, client result)"
cat "$WORK/runs.tsv"
