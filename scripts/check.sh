#!/usr/bin/env bash
# `make check`: static checks, each one pass or fail; ends with "N passed, N failed".
#   scripts/check.sh [BUILD_DIR]
#  - luacheck (Debian lua-check) over lua/ scripts/ spec/ with .luacheckrc;
#  - lua/ddb/meta.lua (LuaLS annotations) declares the whole ddb API;
#  - ddbrun.1 renders without a groff warning;
#  - ddbrun.1 documents every variable named in .env.example.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
passed=0 failed=0

check() { # $1 = name, then the command
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; echo "$out" | sed 's/^/     /'
  fi
}

groff_quiet() { # groff -ww prints warnings on stderr; any output is a failure
  local out
  out="$(groff -ww -man -Tutf8 ddbrun.1 2>&1 >/dev/null)"
  [[ -z "$out" ]] || { echo "$out"; return 1; }
}

man_covers_env() {
  local missing=0 v
  for v in $(sed -nE 's/^#? ?([A-Z][A-Z0-9_]*)=.*/\1/p' .env.example | sort -u); do
    grep -qw -- "$v" ddbrun.1 || { echo "ddbrun.1: $v (from .env.example) is not documented"; missing=1; }
  done
  return $missing
}

check "luacheck lua scripts spec" luacheck --no-color --quiet --codes lua scripts spec
check "meta.lua covers the ddb API" "$BUILD/ddbrun" --no-env scripts/check/meta_covers_api.lua lua/ddb/meta.lua
check "groff -ww ddbrun.1" groff_quiet
check "ddbrun.1 documents .env.example" man_covers_env
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
