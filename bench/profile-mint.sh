#!/usr/bin/env bash
# Where the server's CPU goes per mint (BENCHMARKS.md, "Profile"). Same set-up as the mint
# scenario of bench/run: release server on 127.0.0.1, CPU 0, --threads 1; wrk on CPU 1.
#
#   bench/profile-mint.sh perf        perf record (cpu-clock sampling, kernel call graphs) during
#                                     a 10 s, 64-connection wrk run; prints CPU by thread and
#                                     library, the kernel's share by system call, top functions
#   bench/profile-mint.sh callgrind   the server under valgrind --tool=callgrind (user space only,
#                                     instructions counted exactly) during a 10 s, 8-connection
#                                     run; prints instructions per mint and the top functions
#
# Profiling slows the server (perf a little, callgrind ~50x): take speed figures from
# bench/run, and proportions from here (bench/run --profile records perf for every target too). Output files stay in bench/results/ (git-ignored).
# Builds nothing: cmake --preset release && cmake --build build/release -j2
set -euo pipefail

MODE=${1:-perf}
[[ $MODE == perf || $MODE == callgrind ]] || { echo "usage: $0 [perf|callgrind]" >&2; exit 2; }
cd "$(dirname "$0")/.."
BIN=$(pwd)/build/release/bouncer
[[ -x $BIN ]] || { echo "$BIN is missing: cmake --preset release && cmake --build build/release -j2" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
if [[ $MODE == perf ]]; then command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }; fi
if [[ $MODE == callgrind ]]; then command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }; fi

OUT=$(pwd)/bench/results
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/bouncer-profile.XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done  # valgrind is slow to exit
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WRAP=()
CONNECTIONS=64
STARTUP_TENTHS=100
if [[ $MODE == callgrind ]]; then
  WRAP=(valgrind --tool=callgrind "--callgrind-out-file=$OUT/callgrind.mint.$STAMP.%p")
  CONNECTIONS=8
  STARTUP_TENTHS=600
fi
SERVER_CMD=(taskset -c 0 "${WRAP[@]}" "$BIN" serve --listen 127.0.0.1:0 --admin-listen off --data-dir "$WORK/data" --log-level warn --threads 1)
echo "== server: ${SERVER_CMD[*]}"
"${SERVER_CMD[@]}" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
URL=
for _ in $(seq 1 "$STARTUP_TENTHS"); do
  URL=$(grep -o -m1 'http://127\.0\.0\.1:[0-9]*' "$WORK/server.out" 2>/dev/null || true)
  [[ -n $URL ]] && grep -q 'sk_' "$WORK/server.out" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; echo "the server exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n $URL ]] || { echo "the server did not start in time" >&2; exit 1; }
(umask 077; grep -o -m1 'sk_[A-Za-z0-9_-]*' "$WORK/server.out" >"$WORK/key")
export BOUNCER_KEY_FILE=$WORK/key
TARGET=$URL/v1/client/tokens

timeout 60 taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d3s -s bench/mint.lua "$TARGET" >/dev/null  # warm-up
WRK_CMD=(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d10s -s bench/mint.lua "$TARGET")
minted() { sed -n 's/^mint_status ok=\([0-9]*\) .*$/\1/p' "$1"; }

if [[ $MODE == perf ]]; then
  DATA=$OUT/perf.mint.$STAMP.data
  ticks0=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SERVER_PID/stat")
  echo "== load: ${WRK_CMD[*]}"
  echo "== perf: perf record -e cpu-clock -F 1999 -g -p $SERVER_PID -o $DATA (for the whole wrk run)"
  perf record -q -e cpu-clock -F 1999 -g -p "$SERVER_PID" -o "$DATA" 2>/dev/null &
  PERF_PID=$!
  sleep 0.3
  timeout 60 "${WRK_CMD[@]}" >"$WORK/wrk.out"
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  ticks1=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SERVER_PID/stat")
  ok=$(minted "$WORK/wrk.out")
  per_mint=$(awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" -v ok="$ok" 'BEGIN { printf "%.1f", t / hz * 1e6 / ok }')
  echo "mints: $ok; server CPU per mint (under perf): $per_mint us. Percentages below are of all server samples."
  # (|| true: head closes the pipe early, which pipefail would otherwise turn into an exit)
  report() { perf report -i "$DATA" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep -v '^$' || true; }
  echo
  echo "== CPU by thread and library (self time; us/mint = share x CPU per mint)"
  report --no-children --sort pid,dso | head -14 |
    awk -v pm="$per_mint" '{ p = $1; sub(/%/, "", p); printf "%s   ~%5.1f us/mint\n", $0, p * pm / 100 }' || true
  echo
  echo "== kernel time by system call (children: the call and everything under it)"
  report --children --sort pid,sym | grep -E '\[k\] (__x64_sys_[a-z0-9_]+|__sys_(send|recv)msg|asm_sysvec_[a-z_]+|irqentry_exit_to_user_mode)$' | head -16 |
    awk -v pm="$per_mint" '{ p = $1; sub(/%/, "", p); printf "%s   ~%5.1f us/mint\n", $0, p * pm / 100 }' || true
  echo
  echo "== top functions (self time)"
  report --no-children --sort dso,sym | head -30 | cut -c1-160 || true
  echo
  echo "(perf data kept: $DATA; e.g. perf report -i $DATA --children)"
else
  echo "== load: ${WRK_CMD[*]} (callgrind counters zeroed after a 3 s warm-up)"
  callgrind_control -z "$SERVER_PID" >/dev/null
  timeout 60 "${WRK_CMD[@]}" >"$WORK/wrk.out"
  callgrind_control -d "$SERVER_PID" >/dev/null
  sleep 1
  ok=$(minted "$WORK/wrk.out")
  FILE=$(ls -t "$OUT"/callgrind.mint."$STAMP".*.1 | head -1)
  total=$(callgrind_annotate "$FILE" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(/,/, "", $1); print $1 }')
  echo "mints: $ok; user-space instructions: $total; per mint: $((total / ok))"
  echo
  echo "== inclusive (a function and all it calls), instructions per mint"
  callgrind_annotate --inclusive=yes --threshold=99.9 "$FILE" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '3,60p' |
    awk -v ok="$ok" 'NF { n = $1; gsub(/,/, "", n); printf "%9.0f  %s\n", n / ok, $0 }' | cut -c1-200 || true
  echo
  echo "== exclusive (self), instructions per mint"
  # Summed from the file itself: callgrind_annotate 3.19 puts all self cost in clone() for a
  # dump taken after callgrind_control -z.
  awk '
    function named(kind, s,    id, rest) {
      if (match(s, /^\([0-9]+\)/)) {
        id = substr(s, 2, RLENGTH - 2); rest = substr(s, RLENGTH + 1); sub(/^ /, "", rest)
        if (rest != "") names[kind, id] = rest
        return names[kind, id]
      }
      return s
    }
    /^ob=/ { ob = named("ob", substr($0, 4)); next }
    /^cob=/ { named("ob", substr($0, 5)); next }
    /^fn=/ { key = named("fn", substr($0, 4)) " [" ob "]"; next }
    /^cfn=/ { named("fn", substr($0, 5)); next }
    /^calls=/ { skip = 1; next }
    /^[0-9+*-]/ { if (skip) { skip = 0; next } self[key] += $2; next }
    END { for (k in self) printf "%.0f\t%s\n", self[k], k }' "$FILE" | sort -rn | head -30 |
    awk -F'\t' -v ok="$ok" -v total="$total" '{ printf "%9.0f  %5.1f%%  %s\n", $1 / ok, 100 * $1 / total, $2 }' |
    sed 's|/usr/lib/x86_64-linux-gnu/||; s|'"$(pwd)"'/build/release/||' | cut -c1-180 || true
  echo "(callgrind data kept: $FILE; open with kcachegrind or callgrind_annotate)"
fi
