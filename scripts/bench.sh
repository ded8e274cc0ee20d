#!/usr/bin/env bash
# ddbrun's benchmark on a DynamoDB Local it starts itself (fresh, in memory,
# for every measurement), printing:
#   1. single-thread PutItem/GetItem: requests/s and client CPU ms per request;
#   2. the record processor with a no-op callback, for N (default 20,000) and
#      BIG_N (default 100,000) records, at 5 and 16 workers, each directly and
#      through build/tools/faultproxy's latency mode adding LATENCY_MS
#      (default 5) of round trip (half each way, as a network does):
#      records/s, client CPU s per 1,000 records (whole process, start-up
#      included), peak RSS, server CPU ms per record; then one row at
#      MANY_WORKERS (default 64) for memory;
#   3. coordination: COORD_PROCS (3) processes x COORD_N (20,000) records with
#      lease_ms = 30000 against one process without leases on the same number
#      of records: records/s, WCU and RCU per record (ddbrun's own
#      ConsumedCapacity sums, which the coordination spec checks against a
#      metering proxy), and the lease thread's WCU.
#   scripts/bench.sh [DDBRUN_BINARY]
#   env: N, BIG_N (0 skips), WORKERS ("5 16"), LATENCY_MS ("0 5"), MANY_WORKERS (0 skips), SINGLE_COUNT,
#        COORD_N (0 skips), COORD_PROCS
set -euo pipefail
cd "$(dirname "$0")/.."
DDBRUN="$(realpath "${1:-build/ddbrun}")"
N="${N:-20000}" BIG_N="${BIG_N:-100000}" WORKERS="${WORKERS:-5 16}" SINGLE_COUNT="${SINGLE_COUNT:-3000}"
COORD_N="${COORD_N:-20000}" COORD_PROCS="${COORD_PROCS:-3}"
LATENCY_MS="${LATENCY_MS:-0 5}" MANY_WORKERS="${MANY_WORKERS:-64}"
FAULTPROXY="$(dirname "$DDBRUN")/tools/faultproxy"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
unset AWS_ENDPOINT_URL DYNAMODB_ENDPOINT AWS_SESSION_TOKEN AWS_PROFILE
PORT="" PROXY_PID=""
trap '[[ -n "$PROXY_PID" ]] && kill "$PROXY_PID"; [[ -n "$PORT" ]] && scripts/ddb_local.sh stop "$PORT"' EXIT
trap 'exit 130' INT TERM

start_server() {
  PORT="$(scripts/ddb_local.sh freeport)"
  AWS_ENDPOINT_URL_DYNAMODB="$(scripts/ddb_local.sh start "$PORT")"
  export AWS_ENDPOINT_URL_DYNAMODB
  "$DDBRUN" --no-env scripts/create_tables.lua >/dev/null
}
stop_server() { scripts/ddb_local.sh stop "$PORT"; PORT=""; }

load() { # $1 = records, in 4 parallel loaders
  local n="$1" per=$(( ($1 + 3) / 4 )) pids=()
  for k in 0 1 2 3; do
    local from=$((k * per)) count=$per
    (( from + count > n )) && count=$((n - from))
    (( count > 0 )) && { "$DDBRUN" --no-env scripts/bench/load.lua "$count" "$from" & pids+=($!); }
  done
  for p in "${pids[@]}"; do wait "$p"; done
}

if [[ "${SINGLE_COUNT}" != 0 ]]; then
echo "== single-thread client (one request at a time, $SINGLE_COUNT measured after 200 warm-up)"
start_server
"$DDBRUN" --no-env scripts/bench/single.lua "$SINGLE_COUNT" 200 >/dev/null   # JIT warm-up of the server
printf '%-8s %12s %18s\n' op "requests/s" "CPU ms/request"
"$DDBRUN" --no-env scripts/bench/single.lua "$SINGLE_COUNT" 200 |
  awk '/^SINGLE/ { printf "%-8s %12.0f %18.3f\n", $2, $4, $5 }'
stop_server
echo
fi

echo "== record processor, no-op callback (whole-process CPU and RSS, start-up included)"
printf '%8s %8s %8s %12s %14s %12s %8s %14s\n' records workers "RTT+ms" "records/s" "CPU s/1k rec" "peak RSS MB" errors "server ms/rec"
# CPU seconds (user + system) DynamoDB Local has used so far.
server_cpu() {
  local pid; pid="$(cat "${DDBRUN_CACHE:-.cache}/ddb-$PORT.pid")"
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$pid/stat"
}

# Points the client at a latency proxy adding $1 ms of round trip (none for 0).
start_proxy() {
  local line
  [[ "$1" == 0 ]] && return 0
  [[ -x "$FAULTPROXY" ]] || { echo "!! $FAULTPROXY is missing (make tools)" >&2; exit 1; }
  exec 8< <("$FAULTPROXY" latency --upstream "$PORT" --one-way-ms "$(awk -v l="$1" 'BEGIN { print l / 2 }')")
  read -r line <&8
  PROXY_PID="$(awk '{ print $4 }' <<<"$line")"
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$(awk '{ print $2 }' <<<"$line")"
}
stop_proxy() {
  [[ -n "$PROXY_PID" ]] || return 0
  kill "$PROXY_PID"; exec 8<&-; PROXY_PID=""
}

measure() { # $1 = records, $2 = workers, $3 = added round trip in ms
  start_server
  load "$1"
  start_proxy "$3"
  local t out s0 s1; t="$(mktemp)"
  s0="$(server_cpu)"
  out="$(/usr/bin/time -f '%e %U %S %M' -o "$t" "$DDBRUN" --no-env scripts/bench/process.lua "$2")"
  s1="$(server_cpu)"
  stop_proxy
  read -r _ user sys rss <"$t"; rm -f "$t"
  read -r _ processed errors elapsed _ <<<"$(grep '^RESULT' <<<"$out")"
  [[ "$processed" == "$1" ]] || echo "!! processed $processed of $1" >&2
  awk -v n="$1" -v w="$2" -v l="$3" -v p="$processed" -v e="$elapsed" -v u="$user" -v s="$sys" -v m="$rss" -v err="$errors" \
      -v srv="$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')" \
    'BEGIN { printf "%8d %8d %8s %12.0f %14.3f %12.1f %8d %14.3f\n", n, w, l, p / e, (u + s) * 1000 / n, m / 1024, err, srv * 1000 / n }'
  stop_server
}
for n in "$N" "$BIG_N"; do
  (( n > 0 )) || continue
  for w in $WORKERS; do
    for l in $LATENCY_MS; do measure "$n" "$w" "$l"; done
  done
done
if (( MANY_WORKERS > 0 )); then measure "$N" "$MANY_WORKERS" 0; fi

# $1 = processes, $2 = lease_ms (0: none), $3 = total records
coordinated() {
  local procs="$1" lease="$2" n="$3" outs=() pids=() t0 t1
  start_server
  load "$n"
  t0="$(date +%s.%N)"
  for ((k = 0; k < procs; k++)); do
    outs+=("$(mktemp)")
    PROCESSOR_LEASE_MS="$lease" "$DDBRUN" --no-env scripts/bench/process.lua 8 >"${outs[k]}" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1="$(date +%s.%N)"
  cat "${outs[@]}" | awk -v n="$n" -v procs="$procs" -v lease="$lease" -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '
    /^RESULT/ { p += $2; e += $3; w += $5; r += $6; l += $7 }
    END {
      if (p != n) printf "!! processed %d of %d\n", p, n
      printf "%9d %9d %9d %12.0f %12.3f %12.4f %14.1f %8d\n", procs, lease, n, p / secs, w / n, r / n, l, e
    }'
  rm -f "${outs[@]}"
  stop_server
}
if (( COORD_N > 0 )); then
  echo
  echo "== coordination: processes sharing one table (8 workers each, no-op callback, wall clock of the slowest)"
  printf '%9s %9s %9s %12s %12s %12s %14s %8s\n' processes lease_ms records "records/s" "WCU/record" "RCU/record" "lease WCU" errors
  total=$((COORD_N * COORD_PROCS))
  coordinated 1 0 "$total"
  coordinated "$COORD_PROCS" 30000 "$total"
fi
