#!/usr/bin/env bash
# Builds the Pulumi CLI, its Node.js language host and the provider plugins this project uses from their
# Go modules (the Go module proxy is their only source), once, into a cache outside the work tree that is
# keyed by versions. Later runs reuse it at once; an interrupted or failed run resumes where it stopped.
#
#   scripts/toolchain.sh                 build whatever is missing (progress on stderr)
#   scripts/toolchain.sh --print-path    the same, then print the bin dir to put on PATH (alone on stdout)
#
# Environment (all optional):
#   DEMESNE_TOOLCHAIN_DIR        cache root; default ${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/toolchain
#   DEMESNE_PULUMI_VERSION       3.274.1   (CLI and language host; no leading v)
#   DEMESNE_COMMAND_VERSION      1.2.1     DEMESNE_TAILSCALE_VERSION 0.29.1     DEMESNE_OVH_VERSION 2.19.1
#   DEMESNE_TOOLCHAIN_BINARIES   space-separated subset of the binaries below (default: all of them)
#   DEMESNE_TOOLCHAIN_JOBS       builds run at once (default: cores, at most one per 4 GiB of free memory)
#   DEMESNE_TOOLCHAIN_SRC_<NAME> a local copy of a binary's Go module (NAME upper-cased, '-' -> '_', e.g.
#                                DEMESNE_TOOLCHAIN_SRC_PULUMI_LANGUAGE_NODEJS), used instead of the proxy. The
#                                binary is labelled with that source's own version (its git tag, .version file
#                                or module cache @version), which is in the cache key; a warning says when it
#                                is not the pinned one. Its relative replaces point into that checkout.
#   GOPROXY, GOSUMDB, GOFLAGS, GOCACHE, GOMODCACHE are honoured as usual (one shared Go cache).
# A pulumi of exactly the wanted version already on PATH is reused (with the language host beside it), as
# are provider plugins already installed in the Pulumi plugin cache; only what is still missing is built.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/toolchain/lib.sh"

# The SDK in package.json is 3.270.0, but the Go module proxy does not serve pkg/v3 at that version; a newer CLI
# runs programs of an older SDK, so the newest served one is the default.
PULUMI_V=${DEMESNE_PULUMI_VERSION:-3.274.1}
COMMAND_V=${DEMESNE_COMMAND_VERSION:-1.2.1}
TAILSCALE_V=${DEMESNE_TAILSCALE_VERSION:-0.29.1}
OVH_V=${DEMESNE_OVH_VERSION:-2.19.1}
ALL="pulumi-resource-ovh pulumi-resource-tailscale pulumi pulumi-resource-command pulumi-language-nodejs"
CACHE=${DEMESNE_TOOLCHAIN_DIR:-${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/toolchain}
# The cache of the pinned versions; a build from local sources gets its own (see versions), which reuses these.
BASE=$CACHE/pulumi-${PULUMI_V}_command-${COMMAND_V}_tailscale-${TAILSCALE_V}_ovh-${OVH_V}
declare -A SRCDIR=() BUILT=() # per binary: the local source it is built from, the version it is built at
export PULUMI_SKIP_UPDATE_CHECK=true

exec 3>&2 # progress always goes to the caller's stderr, even from inside redirected build jobs
log() { printf '[toolchain] %s\n' "$*" >&3; }
die() { log "error: $*"; exit 1; }

PRINT=0
case "${1:-}" in
  --print-path) PRINT=1 ;;
  "") ;;
  -h | --help) sed -n '2,/^set /{/^set /!p}' "$0" >&2; exit 0 ;;
  *) die "unknown argument '$1' (usage: $0 [--print-path])" ;;
esac

# spec NAME: sets MOD (Go module), VER (its version, or "pseudo <major> <module@tag>": a pseudo-version at the
# commit that module@tag comes from), MAIN (main package), X (the variable -X stamps with the version built),
# PIN (the pinned version), TAGS, and GEN=1 for bridged providers (their embedded schema carries the version).
spec() {
  TAGS="" GEN=""
  case $1 in
    pulumi | pulumi-language-nodejs)
      X=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version PIN=$PULUMI_V TAGS=osusergo,grpcnotrace
      if [[ $1 == pulumi ]]; then
        MOD=github.com/pulumi/pulumi/pkg/v3 VER=v$PULUMI_V MAIN=./cmd/pulumi
      else # untagged module: take it at the commit of the pkg/vX.Y.Z tag
        MOD=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 MAIN=.
        VER="pseudo v3 github.com/pulumi/pulumi/pkg/v3@v$PULUMI_V"
      fi ;;
    pulumi-resource-command) # no provider/ tags: the repo root's tag gives the commit
      MOD=github.com/pulumi/pulumi-command/provider MAIN=./cmd/pulumi-resource-command
      VER="pseudo v0 github.com/pulumi/pulumi-command@v$COMMAND_V"
      X=$MOD/pkg/version.Version PIN=$COMMAND_V ;;
    pulumi-resource-tailscale)
      MOD=github.com/pulumi/pulumi-tailscale/provider MAIN=./cmd/pulumi-resource-tailscale GEN=1
      VER="pseudo v0 github.com/pulumi/pulumi-tailscale@v$TAILSCALE_V"
      X=$MOD/pkg/version.Version PIN=$TAILSCALE_V ;;
    pulumi-resource-ovh)
      MOD=github.com/ovh/pulumi-ovh/provider/v2 MAIN=./cmd/pulumi-resource-ovh GEN=1
      VER="pseudo v2 github.com/ovh/pulumi-ovh@v$OVH_V+incompatible"
      X=$MOD/pkg/version.Version PIN=$OVH_V ;;
    *) die "unknown binary '$1' (known: $ALL)" ;;
  esac
}

provider_version() { [[ $1 == pulumi-resource-* ]] && spec "$1" && echo "$PIN"; }

# versions NAME...: the version each binary is built at (its pin, or its local source's own version) and the
# cache they go to: BASE, or with local sources a cache whose key adds each source's version.
versions() {
  local name var key=""
  for name; do
    spec "$name"
    var=DEMESNE_TOOLCHAIN_SRC_$(tr 'a-z-' 'A-Z_' <<<"$name")
    BUILT[$name]=$PIN
    [[ -n ${!var:-} ]] || continue
    SRCDIR[$name]=$(cd "${!var}" 2>/dev/null && pwd -P) || die "$var: ${!var} is not a directory"
    BUILT[$name]=$(source_version "${SRCDIR[$name]}" 2>&1) || die "$var: ${BUILT[$name]}"
    BUILT[$name]=${BUILT[$name]#v}
    key+=_${name}-$(source_key "${SRCDIR[$name]}" "v${BUILT[$name]}")
    [[ ${BUILT[$name]} == "$PIN" ]] ||
      log "warning: $name is built from ${!var}, which is v${BUILT[$name]}, not the pinned v$PIN; it is labelled v${BUILT[$name]}"
  done
  ROOT=$BASE${key:+_src$key}
  BIN=$ROOT/bin LOGS=$ROOT/logs SRC=$ROOT/src STAMPS=$ROOT/stamps
}

# go, run outside any module (a go.mod above the caller's directory must not interfere)
gox() { (cd "$TMPD" && timeout "${GO_TIMEOUT:-600}" go "$@"); }

ready() { [[ -f $STAMPS/$1 && -x $BIN/$1 ]]; }

# reuse NAME: link an installation that already has exactly the wanted version into BIN
reuse() {
  local name=$1 p="" c v
  [[ -z ${SRCDIR[$name]:-} ]] || return 1 # built from the source asked for, never taken from elsewhere
  if [[ $ROOT != "$BASE" && -f $BASE/stamps/$name && -x $BASE/bin/$name ]]; then
    p=$BASE/bin/$name
    [[ $name != pulumi-language-nodejs ]] ||
      ln -sfn "$BASE/bin/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"
    ln -sfn "$p" "$BIN/$name"
    log "reusing $p"
    return 0
  fi
  case $name in
    pulumi | pulumi-language-nodejs)
      for c in $(type -aP pulumi 2>/dev/null); do
        [[ $(cd "$(dirname "$c")" && pwd -P) == "$(cd "$BIN" && pwd -P)" ]] && continue
        v=$(timeout 20 "$c" version 2>/dev/null) || continue
        [[ $v == "v$PULUMI_V" ]] && { p=$c; break; }
      done
      [[ -n $p ]] || return 1
      if [[ $name == pulumi-language-nodejs ]]; then
        p=$(dirname "$p")/pulumi-language-nodejs
        [[ -x $p ]] && timeout 20 "$p" -version 2>/dev/null | grep -qF "$PULUMI_V" || return 1
        [[ -x $(dirname "$p")/pulumi-resource-pulumi-nodejs ]] &&
          ln -sfn "$(dirname "$p")/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"
      fi ;;
    pulumi-resource-*)
      p=${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-${name#pulumi-resource-}-v$(provider_version "$name")/$name
      [[ -x $p ]] || return 1 ;;
  esac
  ln -sfn "$p" "$BIN/$name"
  log "reusing $p"
}

# refused OUT: the exact module@version each error in go's output OUT is about, or its last lines
refused() { go_module_errors <<<"$1" | grep . || tail -n 3 <<<"$1"; }

# resolve NAME: copy the binary's module source into SRC/NAME; on failure print why and return 1
resolve() {
  local name=$1 dir out ver root major hash t
  spec "$name"
  if [[ -n ${SRCDIR[$name]:-} ]]; then
    dir=${SRCDIR[$name]}
  else
    ver=$VER
    if [[ $ver == pseudo* ]]; then
      read -r _ major root <<<"$ver"
      out=$(gox list -m -f '{{with .Origin}}{{.Hash}}{{end}}|{{.Time.UTC.Format "20060102150405"}}' "$root" 2>&1) ||
        { refused "$out"; return 1; }
      IFS='|' read -r hash t <<<"$out"
      if [[ -z $hash ]]; then # which version of MOD to ask for is unknown; does the proxy serve MOD at all?
        out=$(gox list -m "$MOD@latest" 2>&1) && out=""
        if [[ -n $out ]]; then
          refused "$out"
          echo "(asked for @latest: the proxy does not say which commit $root is, so the version of that release cannot be named)"
        else
          echo "$MOD: it has no release tags of its own, and the proxy does not say which commit $root is" \
            "(no Origin in its .info), so its version at that release cannot be named"
        fi
        return 1
      fi
      ver=$major.0.0-$t-${hash:0:12}
    fi
    out=$(gox mod download -json "$MOD@$ver" 2>&1) || { refused "$out"; return 1; }
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$out")
    [[ -n $dir ]] || { echo "$MOD@$ver: go mod download gave no Dir"; return 1; }
    echo "$MOD@$ver" >&2
  fi
  rm -rf "${SRC:?}/$name" && cp -r "$dir" "$SRC/$name" && chmod -R u+w "$SRC/$name"
}

# handshake PATH: a plugin started without an engine address prints its gRPC port on stdout
handshake() {
  local out=$1.port pid i
  "$1" >"$out" & pid=$!
  for ((i = 0; i < 120; i++)); do
    grep -qE '^[0-9]+$' "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -qE '^[0-9]+$' "$out" || { echo "smoke: $1 printed no port: $(head -c 300 "$out")"; return 1; }
  echo "smoke: handshake ok, port $(head -n 1 "$out")"
  rm -f "$out"
}

# smoke NAME PATH: it reports the version it was built from (lib.sh), and a plugin answers the handshake
smoke() {
  smoke_version "$1" "$2" "${BUILT[$1]}" || return 1
  [[ $1 != pulumi-resource-* ]] || handshake "$2"
}

# local_replaces: "<module> <path>" for each replace of the module in . by a relative path
local_replaces() {
  go mod edit -print |
    sed -nE 's#^(replace)?[[:space:]]*([^[:space:]]+)( v[^[:space:]]+)?[[:space:]]+=>[[:space:]]+(\.{1,2}(/[^[:space:]]*)?)[[:space:]]*$#\2 \4#p'
}

# build NAME: runs as a background job with its output in LOGS/NAME.log; writes the stamp last
build() {
  local name=$1 start=$SECONDS old path sdk built src=${SRCDIR[$name]:-}
  local -a edits=()
  spec "$name"
  built=${BUILT[$name]}
  cd "$SRC/$name"
  # Monorepo modules replace their siblings with relative paths (../sdk), which the copy here lacks. A local
  # checkout keeps them: they point into that checkout (its own sdk/pkg). Otherwise the siblings are required
  # at the version built, from the proxy: the same release (a language host built against a newer sdk than its
  # own does not compile: its server lacks the methods the newer interface has).
  while read -r old path; do
    if [[ -n $src && -f $src/$path/go.mod ]]; then
      edits+=("-replace=$old=$(cd "$src/$path" && pwd -P)")
    elif [[ $old != github.com/pulumi/pulumi/* || $MOD != github.com/pulumi/pulumi/* ]]; then # not a sibling
      echo "$name: go.mod replaces $old with $path, which is not there"; return 1
    elif [[ ! $built =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
      echo "$name: go.mod replaces $old with $path, which is not there, and v$built is no release to take it at"
      return 1
    else
      edits+=("-dropreplace=$old" "-require=$old@v$built")
    fi
  done < <(local_replaces)
  ((${#edits[@]} == 0)) || go mod edit "${edits[@]}"
  if [[ -n $GEN ]]; then # bridged providers embed schema.json with its version set (upstream: VERSION=x go generate)
    (cd "$MAIN" && VERSION=$(stamp_value "$name" "$built") nice -n 10 go run -mod=mod ./generate.go && test -s schema-embed.json)
  fi
  CGO_ENABLED=0 nice -n 10 go build -mod=mod -trimpath ${TAGS:+-tags "$TAGS"} \
    -ldflags "-s -w -X $X=$(stamp_value "$name" "$built")" -o "$BIN/.$name.new" "$MAIN"
  smoke "$name" "$BIN/.$name.new"
  mv -f "$BIN/.$name.new" "$BIN/$name"
  if [[ $name == pulumi-language-nodejs ]]; then # the shim that runs Node dynamic providers ships beside it
    sdk=$(go list -mod=mod -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
    install -m 0755 "$sdk/nodejs/dist/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"
  fi
  rm -rf "${SRC:?}/$name" # kept only after a failure, to look at
  echo "$name $MOD version=v$built pin=v$PIN source=${src:-proxy} built_in=$((SECONDS - start))s at $(date -u +%FT%TZ)" \
    >"$STAMPS/$name"
  log "built $name v$built in $((SECONDS - start))s"
}

main() {
  local name want=() todo=() failed=() err njobs out mem line remote=0
  for name in ${DEMESNE_TOOLCHAIN_BINARIES:-$ALL}; do spec "$name"; want+=("$name"); done
  versions "${want[@]}"
  mkdir -p "$BIN" "$LOGS" "$SRC" "$STAMPS"
  if command -v flock >/dev/null; then # one build per cache key at a time; a second caller waits
    exec 9>"$ROOT/.lock"
    flock -n 9 || { log "waiting for another toolchain build of ${ROOT##*/}"; flock 9; }
  fi
  for name in "${want[@]}"; do
    ready "$name" || reuse "$name" || todo+=("$name")
  done
  if ((${#todo[@]})); then
    command -v go >/dev/null || die "'go' is not on PATH; install Go (1.25 or newer) first"
    TMPD=$(mktemp -d)
    trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMPD"' EXIT
    trap 'exit 130' INT TERM
    log "cache $ROOT; to build: ${todo[*]} ($(go version | cut -d' ' -f3), GOPROXY=$(go env GOPROXY))"
    for name in "${todo[@]}"; do [[ -n ${SRCDIR[$name]:-} ]] || remote=1; done
    # Is the Go module proxy there at all? (It may still refuse single versions: reported below.)
    if ((remote)) && ! out=$(GO_TIMEOUT=60 gox list -m -json "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_V" 2>&1); then
      if [[ $out == *"dial tcp"* || $out == *"GOPROXY=off"* || $out == *"proxyconnect"* || -z $out ]]; then
        die "the Go module proxy cannot be reached (GOPROXY=$(go env GOPROXY)): ${out:-timed out after 60s}"
      fi
    fi
    err=0
    for name in "${todo[@]}"; do
      if ! out=$(resolve "$name" 2>"$LOGS/$name.resolve"); then
        log "cannot get the source of $name from the Go module proxy:"
        while IFS= read -r line; do log "  $line"; done <<<"$out"
        err=1
      fi
    done
    ((err == 0)) || die "no build started. Set DEMESNE_TOOLCHAIN_BINARIES to a subset, other versions, or" \
      "DEMESNE_TOOLCHAIN_SRC_<NAME> to a local copy of the module"
    njobs=${DEMESNE_TOOLCHAIN_JOBS:-}
    if [[ -z $njobs ]]; then
      mem=$(awk '/^MemAvailable:/ { print int($2 / 4194304) }' /proc/meminfo 2>/dev/null || echo 1)
      njobs=$(nproc 2>/dev/null || echo 1)
      ((mem < njobs)) && njobs=$mem
      ((njobs >= 1)) || njobs=1
    fi
    log "building ${#todo[@]} binaries, $njobs at a time, logs in $LOGS"
    for name in "${todo[@]}"; do
      while (($(jobs -pr | wc -l) >= njobs)); do wait -n || true; done
      log "building $name"
      (build "$name") >"$LOGS/$name.log" 2>&1 &
    done
    wait || true
    for name in "${todo[@]}"; do ready "$name" || failed+=("$name"); done
    for name in "${failed[@]}"; do
      log "FAILED: $name (full log: $LOGS/$name.log)"
      go_module_errors <"$LOGS/$name.log" | sed 's/^/[toolchain]   module error: /' >&3
      log "its last lines:"
      tail -n 25 "$LOGS/$name.log" | sed 's/^/[toolchain]   /' >&3
    done
    ((${#failed[@]} == 0)) || die "failed to build: ${failed[*]}"
  fi
  log "ready in ${SECONDS}s: $BIN"
  if ((PRINT)); then echo "$BIN"; fi
}

main
