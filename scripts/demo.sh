#!/usr/bin/env bash
# The main job on a DynamoDB Local started here (free port, in memory) and
# always stopped: create the tables (twice: the second run finds them), then
# every example script, ending with the complete processor example.
#   scripts/demo.sh [DDBRUN_BINARY]
# RUNNER, when set, prefixes every ddbrun command (make valgrind uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
DDBRUN="${1:-build/ddbrun}"

PORT="$(scripts/ddb_local.sh freeport)"
trap 'scripts/ddb_local.sh stop "$PORT"' EXIT
trap 'exit 130' INT TERM
echo "== starting DynamoDB Local on port $PORT"
AWS_ENDPOINT_URL_DYNAMODB="$(scripts/ddb_local.sh start "$PORT")"
export AWS_ENDPOINT_URL_DYNAMODB
export AWS_ACCESS_KEY_ID="${DEMO_ACCESS_KEY_ID:-demo}" AWS_SECRET_ACCESS_KEY="${DEMO_SECRET_ACCESS_KEY:-demo}"
export AWS_REGION="${AWS_REGION:-us-east-1}"

run() {
  echo
  echo "== ddbrun $*"
  ${RUNNER:-} "$DDBRUN" "$@"
}

run scripts/create_tables.lua
run scripts/create_tables.lua
run scripts/user_example.lua
run scripts/record_example.lua
run scripts/processor_example.lua
run scripts/processor_complete_example.lua "${DEMO_RECORDS:-500}"
echo
echo "== demo finished: every step exited 0"
