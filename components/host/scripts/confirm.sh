# Runs over a fresh SSH login after a lock-out-capable layer: reaching this line proves the
# operator can still get in, so the pending dead-man restore of that layer is cancelled.
read_params TARGET_LAYER
LAYER="$(param TARGET_LAYER)"
case "$LAYER" in ssh | firewall | hardening) ;; *) die "no dead-man restore exists for layer $LAYER" ;; esac
# Logging in again after the dead-man fired proves only that the rollback worked: the change itself failed.
fired="$STATE/deadman/$LAYER.fired"
if [ -f "$fired" ]; then
    die "the dead-man restored the previous $LAYER configuration at $(cat "$fired"): the change shut this login out; fix the config and plan the layer again"
fi
if deadman_cancel; then CHANGED=true; fi
finish
