#!/usr/bin/env bash
# Builds BUILD_DIR/ddbrun_VERSION_ARCH.deb with dpkg-deb from what
# `make install PREFIX=/usr` installs: /usr/bin/ddbrun (stripped), the Lua
# modules and scripts under /usr/share/ddbrun, the man page, the copyright.
# Depends: the real Debian package names, from dpkg-shlibdeps.
#   scripts/make_deb.sh [BUILD_DIR]     prints the path of the .deb
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
umask 022

version="$(sed -n 's/^#define DDBRUN_VERSION "\(.*\)"$/\1/p' src/version.h)"
arch="$(dpkg --print-architecture)"
deb="$BUILD/ddbrun_${version}_${arch}.deb"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
root="$stage/root"

make -s install DESTDIR="$root" PREFIX=/usr BUILD="$BUILD" >/dev/null
strip --strip-unneeded "$root/usr/bin/ddbrun"
gzip -9n "$root/usr/share/man/man1/ddbrun.1"
doc="$root/usr/share/doc/ddbrun"
install -d "$doc"
gzip -9nc README.md >"$doc/README.md.gz"
{
  cat <<'HEAD'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ddbrun

Files: *
Copyright: 2026 the ddbrun authors
License: MIT

License: MIT
HEAD
  sed -n '/^Permission is hereby granted/,$p' LICENSE | sed 's/^$/./; s/^/ /'
} >"$doc/copyright"

# dpkg-shlibdeps reads debian/control from the directory it runs in.
mkdir -p "$stage/debian" "$root/DEBIAN"
printf 'Source: ddbrun\n\nPackage: ddbrun\nArchitecture: any\n' >"$stage/debian/control"
depends="$(cd "$stage" && dpkg-shlibdeps -O -e root/usr/bin/ddbrun 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[[ -n "$depends" ]] || { echo "make_deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
cat >"$root/DEBIAN/control" <<CONTROL
Package: ddbrun
Version: $version
Architecture: $arch
Maintainer: the ddbrun authors <ddbrun@users.noreply.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: database
Priority: optional
Description: run DynamoDB jobs written in Lua 5.4
 ddbrun runs Lua 5.4 scripts like lua5.4, with a native DynamoDB client
 (libcurl, AWS Signature V4 with OpenSSL, jansson) as require("ddb"), a
 Record model, and a record processor that runs a Lua callback for every
 unprocessed record on a pool of threads, each with its own Lua state.
 .
 Includes the table set-up script and the examples under /usr/share/ddbrun,
 an interactive prompt, and lua-language-server annotations of the API.
CONTROL

dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
