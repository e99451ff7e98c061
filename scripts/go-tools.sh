#!/usr/bin/env bash
# Pinned Go tools the checks use, built from the Go module proxy once into a cache outside the work tree:
#   actionlint (GitHub workflows)   gitleaks (secrets in the tree and its history)
#   scripts/go-tools.sh [--print-path]     build what is missing; print the bin dir to put on PATH
set -euo pipefail

# Each tool: its package@version and the h1: checksum of its module (as go.sum writes it). The checksum is
# checked before the build, so neither a moved tag nor a proxy serving other bytes can change what is built;
# `go install` then checks every dependency against that module's own go.sum.
ACTIONLINT=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
ACTIONLINT_SUM=github.com/rhysd/actionlint@v1.7.12=h1:vQ4GeJN86C0QH+gTUQcs8McmK62OLT3kmakPMtEWYnY=
GITLEAKS=github.com/zricethezav/gitleaks/v8@v8.30.1
GITLEAKS_SUM=github.com/zricethezav/gitleaks/v8@v8.30.1=h1:PmEvCfVI7ti9dV3s5aMZUY7sS2GxRvG3yzih7E+cS3w=
KEY=$(printf '%s\n' "$ACTIONLINT" "$GITLEAKS" "$(go env GOVERSION 2>/dev/null)" | sha256sum | cut -c1-12)
BIN=${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/go-tools/$KEY
log() { printf '[go-tools] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "error: 'go' is not on PATH; install Go first"; exit 1; }
mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9
for tool in ACTIONLINT GITLEAKS; do
  mod=${!tool} pin=${tool}_SUM
  pin=${!pin}
  name=$(basename "${mod%@*}")
  [[ $name == v8 ]] && name=gitleaks
  [[ -x $BIN/$name ]] && continue
  start=$SECONDS
  log "building $mod"
  tmp=$(mktemp -d)
  # Outside any module, so a go.mod above the caller cannot interfere.
  sum=$(cd "$tmp" && go mod download -json "${pin%%=*}" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p') || true
  [[ $sum == "${pin#*=}" ]] ||
    { log "error: ${pin%%=*} has checksum '${sum:-none}', pinned ${pin#*=}; not building it"; exit 1; }
  (cd "$tmp" && CGO_ENABLED=0 GOBIN="$BIN" nice -n 10 go install -trimpath "$mod") ||
    { log "error: could not build $mod from the Go module proxy"; exit 1; }
  rm -rf "$tmp"
  log "built $name in $((SECONDS - start))s"
done
if [[ ${1:-} == --print-path ]]; then echo "$BIN"; fi
