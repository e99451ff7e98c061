#!/bin/bash
# `systemctl` on the control-plane test host (testhost.sh up NAME --docker): the few verbs the layers use, for
# the units Debian's docker.io package would run and Tailscale's package's tailscaled, started the way their
# unit files start them. There is no systemd inside (adr/0018 says why and what this hides): no dependency
# graph beyond docker needing containerd, no socket activation, no restart on failure, no journal (logs go
# to /var/log/<unit>.log).
#   systemctl start|stop|restart|reload|is-active|status UNIT
# start and restart return once the daemon answers (like systemd's Type=notify for dockerd), or fail with
# the tail of its log.
set -euo pipefail
RUN=/run/demesne-units
die() { printf 'systemctl (demesne test host stand-in): %s\n' "$*" >&2; exit "${2:-1}"; }

[[ $# == 2 ]] || die "usage: systemctl start|stop|restart|reload|is-active|status UNIT (only these here; see adr/0018)"
verb=$1 unit=${2%.service}
case $unit in
  docker | containerd | tailscaled) ;;
  *) die "unit $2 is not known on this test host (only docker, containerd and tailscaled; see adr/0018)" 5 ;;
esac
mkdir -p "$RUN"

# The unit's daemon, if running: pid in its pid file, not a zombie, and still that program.
running() {
  local pid stat
  [[ -s $RUN/$1.pid ]] || return 1
  pid=$(<"$RUN/$1.pid")
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z && $(readlink "/proc/$pid/exe" 2>/dev/null) == *"/$(program "$1")" ]] || return 1
  echo "$pid"
}
program() { case $1 in docker) echo dockerd ;; *) echo "$1" ;; esac; }

answers() {
  case $1 in
    docker) docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 ;;
    containerd) ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 ;;
    # Type=notify: tailscaled notifies once its LocalAPI socket serves, whatever its backend state.
    tailscaled) tailscale --socket=/run/tailscale/tailscaled.sock status --json >/dev/null 2>&1 ;;
  esac
}

start() {
  running "$1" >/dev/null && return 0
  [[ $1 != docker ]] || start containerd
  local cmd
  case $1 in
    # Debian's docker.service: EnvironmentFile=-/etc/default/docker, ExecStart=/usr/sbin/dockerd -H fd://
    # $DOCKER_OPTS (the test host puts its cgroup parent there); -H fd:// is socket activation, not here.
    docker)
      local DOCKER_OPTS=""
      # Exported, as systemd's EnvironmentFile= passes every variable of the file to dockerd.
      set -a
      # shellcheck disable=SC1091 # the host's own file
      [[ ! -f /etc/default/docker ]] || . /etc/default/docker
      set +a
      # shellcheck disable=SC2206 # word splitting is what the unit file's $DOCKER_OPTS does too
      cmd=(/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS) ;;
    containerd) cmd=(/usr/bin/containerd) ;;
    # Tailscale's tailscaled.service: EnvironmentFile=/etc/default/tailscaled (PORT, FLAGS), its Runtime-,
    # State- and CacheDirectory, ExecStart=/usr/sbin/tailscaled --state=... --socket=... --port=${PORT} $FLAGS
    tailscaled)
      local PORT="" FLAGS=""
      set -a
      # shellcheck disable=SC1091 # the host's own file; not optional in the unit (no leading -)
      . /etc/default/tailscaled
      set +a
      install -d -m 0755 /run/tailscale && install -d -m 0700 /var/lib/tailscale && install -d -m 0750 /var/cache/tailscale
      # shellcheck disable=SC2206 # word splitting is what the unit file's $FLAGS does too
      cmd=(/usr/sbin/tailscaled --state=/var/lib/tailscale/tailscaled.state --socket=/run/tailscale/tailscaled.sock
        "--port=$PORT" $FLAGS) ;;
  esac
  setsid "${cmd[@]}" </dev/null >>"/var/log/$1.log" 2>&1 &
  echo "$!" >"$RUN/$1.pid"
  local i
  for ((i = 0; i < 600; i++)); do
    answers "$1" && return 0
    running "$1" >/dev/null || break
    sleep 0.1
  done
  tail -n 20 "/var/log/$1.log" >&2
  die "$1 did not come up (its log is above)"
}

stop() {
  local pid i
  pid=$(running "$1") || { rm -f "$RUN/$1.pid"; return 0; }
  kill -TERM "$pid"
  # dockerd may take a while to shut down its containers (systemd's default stop timeout is 90 s).
  for ((i = 0; i < 900; i++)); do
    running "$1" >/dev/null || { rm -f "$RUN/$1.pid"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/$1.pid"
}
# ExecStopPost=/usr/sbin/tailscaled --cleanup: removes the routes and DNS settings a killed daemon left.
stopped() { [[ $1 != tailscaled ]] || /usr/sbin/tailscaled --cleanup >>/var/log/tailscaled.log 2>&1 || true; }

case $verb in
  start) start "$unit" ;;
  stop) stop "$unit" && stopped "$unit" ;;
  restart) stop "$unit" && stopped "$unit" && start "$unit" ;;
  # dockerd and containerd reload their configuration on SIGHUP (what their units' ExecReload send);
  # tailscaled.service has no ExecReload, so systemctl refuses it.
  reload)
    [[ $unit != tailscaled ]] || die "Job for tailscaled.service failed: the unit has no ExecReload (as systemctl says)"
    kill -HUP "$(running "$unit")" ;;
  is-active)
    if running "$unit" >/dev/null; then echo active; else echo inactive; exit 3; fi ;;
  status)
    if pid=$(running "$unit"); then echo "$unit: active (running), pid $pid"; else echo "$unit: inactive"; exit 3; fi ;;
  *) die "verb $verb is not supported on this test host (start, stop, restart, reload, is-active, status; see adr/0018)" ;;
esac
