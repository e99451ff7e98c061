# Runs over a fresh SSH login after a lock-out-capable layer: reaching this line proves the
# operator can still get in, so the pending dead-man restore of that layer is cancelled.
read_params TARGET_LAYER
LAYER="$(param TARGET_LAYER)"
case "$LAYER" in ssh | firewall) ;; *) die "no dead-man restore exists for layer $LAYER" ;; esac
if deadman_cancel; then CHANGED=true; fi
finish
