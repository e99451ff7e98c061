#!/usr/bin/env bash
# Tailscale's client and daemon, and the local coordination server the tests run them against
# (test/tailcontrol), built from the Go module proxy once into a cache outside the work tree:
#   tailscale, tailscaled   tailscale.com at v1.102.5 (newer versions need a newer Go than 1.26)
#   tailcontrol             test/tailcontrol: tailscale.com/tstest/integration/testcontrol over plain HTTP
#   scripts/tailscale-tools.sh      build what is missing; print the cache dir (alone on stdout)
# Environment: DEMESNE_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/demesne); GOPROXY, GOFLAGS,
# GOCACHE, GOMODCACHE as usual.
set -euo pipefail

VERSION=v1.102.5
# The h1: checksum of tailscale.com at VERSION (as go.sum writes it), checked before anything is built, so
# neither a moved tag nor a proxy serving other bytes changes what is built; `go install` then checks every
# dependency against that module's own go.sum, and tailcontrol's against its committed go.sum.
SUM=h1:2jK9VxQU4Vq/tyR7f2U2NqINxU0pV7R14TDBFsfguHE=
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../test/tailcontrol" && pwd -P)
DIR=${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/tailscale-$VERSION
log() { printf '[tailscale-tools] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null || die "'go' is not on PATH; install Go 1.26 or newer first"
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9 # one build per cache at a time; a second caller waits, then reuses
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# built NAME: present, and (for tailcontrol) built from the sources as they are now
built() {
  [[ -x $DIR/$1 ]] || return 1
  [[ $1 != tailcontrol ]] || [[ $(cat "$DIR/tailcontrol.src" 2>/dev/null) == "$(src_key)" ]]
}
src_key() { cat "$SRC/go.mod" "$SRC/go.sum" "$SRC"/*.go "$(command -v go)" | sha256sum | cut -c1-16; }

if ! built tailscale || ! built tailscaled; then
  start=$SECONDS
  # Outside any module, so a go.mod above the caller cannot interfere.
  sum=$(cd "$tmp" && go mod download -json "tailscale.com@$VERSION" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p') || true
  [[ $sum == "$SUM" ]] || die "tailscale.com@$VERSION has checksum '${sum:-none}', pinned $SUM; not building it"
  for name in tailscale tailscaled; do
    log "building $name $VERSION"
    # The version stamps build_dist.sh sets (without them, and without VCS data, it says 1.102.5-ERR-BuildInfo).
    (cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp/bin" nice -n 10 go install -trimpath \
      -ldflags "-s -w -X tailscale.com/version.longStamp=${VERSION#v} -X tailscale.com/version.shortStamp=${VERSION#v}" \
      "tailscale.com/cmd/$name@$VERSION") || die "could not build tailscale.com/cmd/$name@$VERSION"
    v=$("$tmp/bin/$name" --version 2>&1 | head -n 1) || true
    [[ $v == "${VERSION#v}" ]] || die "the built $name reports version '$v', not ${VERSION#v}"
    mv -f "$tmp/bin/$name" "$DIR/$name"
  done
  log "built tailscale and tailscaled in $((SECONDS - start))s"
fi

if ! built tailcontrol; then
  start=$SECONDS
  log "building tailcontrol from $SRC"
  (cd "$SRC" && CGO_ENABLED=0 nice -n 10 go build -mod=readonly -trimpath -o "$tmp/tailcontrol" .) ||
    die "could not build test/tailcontrol"
  mv -f "$tmp/tailcontrol" "$DIR/tailcontrol"
  src_key >"$DIR/tailcontrol.src"
  log "built tailcontrol in $((SECONDS - start))s"
fi
echo "$DIR"
