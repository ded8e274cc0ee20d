#!/usr/bin/env bash
# Installs what ddbrun needs to build, test and run DynamoDB Local; does nothing
# (and downloads nothing) when everything is already present.
#   scripts/install_deps.sh [fuzz]   fuzz: only what `make fuzz` needs (clang, libFuzzer)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(make gcc pkg-config ca-certificates curl procps time openssl
          lua5.4 liblua5.4-dev lua-cjson lua-busted libcmocka-dev
          libcurl4-openssl-dev libssl-dev libjansson-dev zlib1g-dev libexpat1-dev
          openjdk-17-jre-headless libreadline-dev tmux lua-check groff-base dpkg-dev locales faketime)
FUZZ=0; [[ ${1:-} == fuzz ]] && FUZZ=1
((FUZZ)) && PACKAGES=(make pkg-config clang libclang-rt-14-dev liblua5.4-dev
                      libcurl4-openssl-dev libssl-dev libjansson-dev zlib1g-dev libexpat1-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((FUZZ)) || command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

((FUZZ)) || scripts/ddb_local.sh fetch
