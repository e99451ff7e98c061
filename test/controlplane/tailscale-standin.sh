#!/bin/bash
# A stand-in for the `tailscale` CLI on the control-plane test host, which has no tailscaled (another test
# builds the real one). It does only `tailscale serve` as the layers' serve_https (components/host/scripts/
# _prelude.sh) calls it, keeps the mappings in a JSON file shaped like `tailscale serve status --json`,
# and appends every argv to /var/log/tailscale-standin.argv so a test can see exactly what was asked.
# Anything else fails loudly: nothing here pretends to be a tailnet.
set -euo pipefail
state=/var/lib/tailscale-standin/serve.json
mkdir -p "${state%/*}"
[ -f "$state" ] || echo '{}' > "$state"
printf '%s\n' "$*" >> /var/log/tailscale-standin.argv

port_of() { case "$1" in --https=*) echo "${1#--https=}" ;; *) echo "tailscale stand-in: expected --https=PORT, got $1" >&2; exit 2 ;; esac; }
key_of() { echo "standin.example.ts.net:$1"; }

[ "${1:-}" = serve ] || { echo "tailscale stand-in: only 'serve' is implemented (got: $*)" >&2; exit 2; }
shift
case "$*" in
    "status --json") cat "$state" ;;
    --bg\ --https=*\ http://*)
        key=$(key_of "$(port_of "$2")")
        jq --arg k "$key" --arg t "$3" '.Web[$k] = {Handlers: {"/": {Proxy: $t}}}' "$state" > "$state.new"
        mv "$state.new" "$state" ;;
    --https=*\ off)
        key=$(key_of "$(port_of "$1")")
        jq --arg k "$key" 'del(.Web[$k])' "$state" > "$state.new"
        mv "$state.new" "$state" ;;
    *) echo "tailscale stand-in: unsupported: tailscale serve $*" >&2; exit 2 ;;
esac
