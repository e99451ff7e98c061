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
#                                DEMESNE_TOOLCHAIN_SRC_PULUMI_LANGUAGE_NODEJS), used instead of the proxy
#   GOPROXY, GOSUMDB, GOFLAGS, GOCACHE, GOMODCACHE are honoured as usual (one shared Go cache).
# A pulumi of exactly the wanted version already on PATH is reused (with the language host beside it), as
# are provider plugins already installed in the Pulumi plugin cache; only what is still missing is built.
set -euo pipefail

# The SDK in package.json is 3.270.0, but the Go module proxy does not serve pkg/v3 at that version; a newer CLI
# runs programs of an older SDK, so the newest served one is the default.
PULUMI_V=${DEMESNE_PULUMI_VERSION:-3.274.1}
COMMAND_V=${DEMESNE_COMMAND_VERSION:-1.2.1}
TAILSCALE_V=${DEMESNE_TAILSCALE_VERSION:-0.29.1}
OVH_V=${DEMESNE_OVH_VERSION:-2.19.1}
ALL="pulumi-resource-ovh pulumi-resource-tailscale pulumi pulumi-resource-command pulumi-language-nodejs"
KEY=pulumi-${PULUMI_V}_command-${COMMAND_V}_tailscale-${TAILSCALE_V}_ovh-${OVH_V}
ROOT=${DEMESNE_TOOLCHAIN_DIR:-${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/toolchain}/$KEY
BIN=$ROOT/bin LOGS=$ROOT/logs SRC=$ROOT/src STAMPS=$ROOT/stamps
export PULUMI_SKIP_UPDATE_CHECK=true

exec 3>&2 # progress always goes to the caller's stderr, even from inside redirected build jobs
log() { printf '[toolchain] %s\n' "$*" >&3; }
die() { log "error: $*"; exit 1; }

PRINT=0
case "${1:-}" in
  --print-path) PRINT=1 ;;
  "") ;;
  -h | --help) sed -n '2,20p' "$0" >&2; exit 0 ;;
  *) die "unknown argument '$1' (usage: $0 [--print-path])" ;;
esac

# spec NAME: sets MOD (Go module), VER (its version, or "pseudo <major> <module@tag>": a pseudo-version at the
# commit that module@tag comes from), MAIN (main package), X (-X version ldflag), TAGS, GEN (schema version).
spec() {
  TAGS="" GEN=""
  case $1 in
    pulumi | pulumi-language-nodejs)
      X=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_V TAGS=osusergo,grpcnotrace
      if [[ $1 == pulumi ]]; then
        MOD=github.com/pulumi/pulumi/pkg/v3 VER=v$PULUMI_V MAIN=./cmd/pulumi
      else # untagged module: take it at the commit of the pkg/vX.Y.Z tag
        MOD=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 MAIN=.
        VER="pseudo v3 github.com/pulumi/pulumi/pkg/v3@v$PULUMI_V"
      fi ;;
    pulumi-resource-command) # no provider/ tags: the repo root's tag gives the commit
      MOD=github.com/pulumi/pulumi-command/provider MAIN=./cmd/pulumi-resource-command
      VER="pseudo v0 github.com/pulumi/pulumi-command@v$COMMAND_V"
      X=$MOD/pkg/version.Version=$COMMAND_V ;;
    pulumi-resource-tailscale)
      MOD=github.com/pulumi/pulumi-tailscale/provider MAIN=./cmd/pulumi-resource-tailscale GEN=$TAILSCALE_V
      VER="pseudo v0 github.com/pulumi/pulumi-tailscale@v$TAILSCALE_V"
      X=$MOD/pkg/version.Version=$TAILSCALE_V ;;
    pulumi-resource-ovh)
      MOD=github.com/ovh/pulumi-ovh/provider/v2 MAIN=./cmd/pulumi-resource-ovh GEN=$OVH_V
      VER="pseudo v2 github.com/ovh/pulumi-ovh@v$OVH_V+incompatible"
      X=$MOD/pkg/version.Version=$OVH_V ;;
    *) die "unknown binary '$1' (known: $ALL)" ;;
  esac
}

provider_version() {
  case $1 in
    pulumi-resource-command) echo "$COMMAND_V" ;;
    pulumi-resource-tailscale) echo "$TAILSCALE_V" ;;
    pulumi-resource-ovh) echo "$OVH_V" ;;
  esac
}

# go, run outside any module (a go.mod above the caller's directory must not interfere)
gox() { (cd "$TMPD" && timeout "${GO_TIMEOUT:-600}" go "$@"); }

ready() { [[ -f $STAMPS/$1 && -x $BIN/$1 ]]; }

# reuse NAME: link an installation that already has exactly the wanted version into BIN
reuse() {
  local name=$1 p="" c v
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

# resolve NAME: copy the binary's module source into SRC/NAME; on failure print why and return 1
resolve() {
  local name=$1 var dir out ver root major hash t
  var=DEMESNE_TOOLCHAIN_SRC_$(tr 'a-z-' 'A-Z_' <<<"$name")
  spec "$name"
  if [[ -n ${!var:-} ]]; then
    dir=${!var}
    [[ -f $dir/go.mod ]] || { echo "$var=$dir has no go.mod"; return 1; }
  else
    ver=$VER
    if [[ $ver == pseudo* ]]; then
      read -r _ major root <<<"$ver"
      out=$(gox list -m -f '{{with .Origin}}{{.Hash}}{{end}} {{.Time.UTC.Format "20060102150405"}}' "$root" 2>&1) ||
        { echo "$out"; return 1; }
      read -r hash t <<<"$out"
      [[ -n ${t:-} ]] || { echo "$root: the proxy does not say which commit it is (no Origin.Hash)"; return 1; }
      ver=$major.0.0-$t-${hash:0:12}
    fi
    out=$(gox mod download -json "$MOD@$ver" 2>&1) || {
      t=$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p; /^go:/p' <<<"$out" | sed 's/\\n\\t/ /g; s/\\t/ /g')
      if [[ -n $t ]]; then echo "$t"; else tail -n 3 <<<"$out"; fi
      return 1
    }
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

smoke() {
  local v
  case $1 in
    pulumi) v=$("$2" version); [[ $v == "v$PULUMI_V" ]] || { echo "smoke: pulumi version says '$v'"; return 1; } ;;
    pulumi-language-nodejs) v=$("$2" -version); [[ $v == *"$PULUMI_V"* ]] || { echo "smoke: -version says '$v'"; return 1; } ;;
    *) handshake "$2" ;;
  esac
  echo "smoke: $1 ok ${v:-}"
}

# build NAME: runs as a background job with its output in LOGS/NAME.log; writes the stamp last
build() {
  local name=$1 start=$SECONDS old sdk
  local -a edits=()
  spec "$name"
  cd "$SRC/$name"
  # Monorepo modules replace their siblings with relative paths (../sdk): use the released versions instead.
  while read -r old; do
    [[ $old == github.com/pulumi/pulumi/* ]] || { echo "unexpected local replace of $old"; return 1; }
    edits+=("-dropreplace=$old" "-require=$old@v$PULUMI_V")
  done < <(go mod edit -print | sed -nE 's#^(replace)?[[:space:]]*([^[:space:]]+)( v[^[:space:]]+)?[[:space:]]+=>[[:space:]]+\.{1,2}/.*#\2#p')
  ((${#edits[@]} == 0)) || go mod edit "${edits[@]}"
  if [[ -n $GEN ]]; then # bridged providers embed schema.json with its version set (upstream: VERSION=x go generate)
    (cd "$MAIN" && VERSION=$GEN nice -n 10 go run -mod=mod ./generate.go && test -s schema-embed.json)
  fi
  CGO_ENABLED=0 nice -n 10 go build -mod=mod -trimpath ${TAGS:+-tags "$TAGS"} -ldflags "-s -w -X $X" \
    -o "$BIN/.$name.new" "$MAIN"
  smoke "$name" "$BIN/.$name.new"
  mv -f "$BIN/.$name.new" "$BIN/$name"
  if [[ $name == pulumi-language-nodejs ]]; then # the shim that runs Node dynamic providers ships beside it
    sdk=$(go list -mod=mod -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
    install -m 0755 "$sdk/nodejs/dist/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"
  fi
  rm -rf "${SRC:?}/$name" # kept only after a failure, to look at
  old=$(provider_version "$name")
  echo "$name $MOD version=${old:-$PULUMI_V} built_in=$((SECONDS - start))s at $(date -u +%FT%TZ)" >"$STAMPS/$name"
  log "built $name in $((SECONDS - start))s"
}

main() {
  local name want=() todo=() failed=() err njobs out mem line
  for name in ${DEMESNE_TOOLCHAIN_BINARIES:-$ALL}; do spec "$name"; want+=("$name"); done
  mkdir -p "$BIN" "$LOGS" "$SRC" "$STAMPS"
  if command -v flock >/dev/null; then # one build per cache key at a time; a second caller waits
    exec 9>"$ROOT/.lock"
    flock -n 9 || { log "waiting for another toolchain build of $KEY"; flock 9; }
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
    # Is the Go module proxy there at all? (It may still refuse single versions: reported below.)
    if ! out=$(GO_TIMEOUT=60 gox list -m -json "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_V" 2>&1); then
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
      log "FAILED: $name (full log: $LOGS/$name.log); its last lines:"
      tail -n 25 "$LOGS/$name.log" | sed 's/^/[toolchain]   /' >&3
    done
    ((${#failed[@]} == 0)) || die "failed to build: ${failed[*]}"
  fi
  log "ready in ${SECONDS}s: $BIN"
  if ((PRINT)); then echo "$BIN"; fi
}

main
