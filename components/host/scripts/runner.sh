#!/bin/bash
# demesne-run: the only command the deploy user may run with sudo. Reads a base64 layer
# script from the first line of stdin and runs it only if its sha256 is in the allowlist;
# the rest of stdin (the layer's parameters) flows on to the script.
set -euo pipefail
umask 077
allow=/etc/demesne/scripts.allow
IFS= read -r encoded || { echo "demesne-run: no script on stdin" >&2; exit 64; }
script="$(mktemp /run/demesne-run.XXXXXX)"
trap 'rm -f "$script"' EXIT
printf '%s' "$encoded" | base64 -d > "$script" 2> /dev/null ||
    { echo "demesne-run: the script is not base64" >&2; exit 64; }
sum="$(sha256sum "$script" | cut -d' ' -f1)"
grep -qx "$sum" "$allow" || { echo "demesne-run: script $sum is not in $allow" >&2; exit 77; }
bash "$script"
