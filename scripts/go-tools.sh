#!/usr/bin/env bash
# Pinned Go tools the checks use, built from the Go module proxy once into a cache outside the work tree:
#   actionlint (GitHub workflows)   gitleaks (secrets in the tree and its history)
#   scripts/go-tools.sh [--print-path]     build what is missing; print the bin dir to put on PATH
set -euo pipefail

ACTIONLINT=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
GITLEAKS=github.com/zricethezav/gitleaks/v8@v8.30.1
KEY=$(printf '%s\n' "$ACTIONLINT" "$GITLEAKS" "$(go env GOVERSION 2>/dev/null)" | sha256sum | cut -c1-12)
BIN=${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/go-tools/$KEY
log() { printf '[go-tools] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "error: 'go' is not on PATH; install Go first"; exit 1; }
mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9
for mod in "$ACTIONLINT" "$GITLEAKS"; do
  name=$(basename "${mod%@*}")
  [[ $name == v8 ]] && name=gitleaks
  [[ -x $BIN/$name ]] && continue
  start=$SECONDS
  log "building $mod"
  # Outside any module, so a go.mod above the caller cannot interfere.
  (cd "$(mktemp -d)" && CGO_ENABLED=0 GOBIN="$BIN" nice -n 10 go install -trimpath "$mod") ||
    { log "error: could not build $mod from the Go module proxy"; exit 1; }
  log "built $name in $((SECONDS - start))s"
done
if [[ ${1:-} == --print-path ]]; then echo "$BIN"; fi
