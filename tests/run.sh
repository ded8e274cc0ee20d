#!/usr/bin/env bash
# Runs every test: the cmocka units, then the busted specs (inside ddbrun, so
# they can use the native module) against a DynamoDB Local started here on a
# free port and stopped afterwards, pass or fail. Ends with "N passed, N failed".
#   tests/run.sh [BUILD_DIR] [busted args...]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"; shift || true
ROOT="$(pwd)"
passed=0 failed=0

# Sanitizer builds (make asan / make tsan): every report, from this process or
# any ddbrun a spec starts, lands in SAN_DIR and counts as a failure.
SAN_DIR="$(mktemp -d)"
export ASAN_OPTIONS="log_path=$SAN_DIR/asan:detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="log_path=$SAN_DIR/ubsan:print_stacktrace=1:${UBSAN_OPTIONS:-}"
# (a second Ctrl-C exits on purpose with worker threads running: no thread-leak reports)
export TSAN_OPTIONS="log_path=$SAN_DIR/tsan:report_thread_leaks=0:${TSAN_OPTIONS:-}"

count_cmocka() { # $1 = output, $2 = exit code
  local p f
  p="$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$1" | tail -n1)"
  f="$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$1" | tail -n1)"
  if [[ -z "$p$f" ]]; then f=1; echo "!! $3 crashed or printed no summary (exit $2)"; fi
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

PORT="$(scripts/ddb_local.sh freeport)"
trap 'scripts/ddb_local.sh stop "$PORT"' EXIT
trap 'exit 130' INT TERM
endpoint="$(scripts/ddb_local.sh start "$PORT")" || { echo "cannot start DynamoDB Local"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

export DDB_TEST_ENDPOINT="$endpoint" AWS_ENDPOINT_URL_DYNAMODB="$endpoint"
export AWS_ACCESS_KEY_ID=ddbruntest AWS_SECRET_ACCESS_KEY=ddbruntestsecret AWS_REGION=us-east-1
# No profile files and no instance metadata: the credential specs point the chain at tests/tools/credserver.
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true DDBRUN_BIN="$ROOT/$BUILD/ddbrun" DDBRUN_ROOT="$ROOT" DDBRUN_BUILD="$BUILD"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL DYNAMODB_ENDPOINT AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN \
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_USE_FIPS_ENDPOINT AWS_USE_DUALSTACK_ENDPOINT
# On a loaded CI box a freshly started DynamoDB Local can take longer than the
# 10 s default on its first calls; specs about timeouts set their own.
export DDBRUN_REQUEST_TIMEOUT_MS="${DDBRUN_REQUEST_TIMEOUT_MS:-60000}"

# C units first (test_client_threads talks to the server too), then the specs.
for t in "$BUILD"/tests/test_*; do
  [[ -x "$t" ]] || continue
  out="$("$t" 2>&1)"; rc=$?
  echo "$out"
  count_cmocka "$out" "$rc" "$t"
done

out_file="$(mktemp)"
"$BUILD/ddbrun" --no-env /usr/bin/busted -o plainTerminal "$@" | tee "$out_file"
summary="$(grep -E '^[0-9]+ success' "$out_file" | tail -n1)"
rm -f "$out_file"
if [[ -z "$summary" ]]; then
  echo "!! busted printed no summary"; failed=$((failed + 1))
else
  read -r s _ _ f _ _ e _ <<<"$summary"
  passed=$((passed + s)); failed=$((failed + f + e))
fi
reports=("$SAN_DIR"/*)
if [[ -e "${reports[0]}" ]]; then
  for r in "${reports[@]}"; do echo "!! sanitizer report $r:"; head -40 "$r"; done
  failed=$((failed + ${#reports[@]}))
fi
rm -rf "$SAN_DIR"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
