#!/usr/bin/env bash
# The sandboxed test host: the cached Debian rootfs (rootfs.sh) under a per-host overlay, in its own network
# namespace behind a veth pair, with sshd as the only service. Everything it creates is recorded in the state
# dir so that `down` removes exactly that and nothing else.
#   test/host/testhost.sh up NAME INDEX     start; prints one JSON object (progress on stderr)
#   test/host/testhost.sh exec NAME -- CMD  run CMD as root inside (stdio and exit code passed through)
#   test/host/testhost.sh down NAME         tear down (idempotent, also for a half-created host)
#   test/host/testhost.sh down-all          down every host under the state dir root
# Addressing: the machine side is dmh<INDEX> 10.251.INDEX.1/30, the host side dmg<INDEX> 10.251.INDEX.2/30.
# The host gets no default route, so it can reach nothing but the machine's end of its own veth.
# There is no systemd inside: systemctl is absent, so probes report the unit list as unavailable. sshd runs
# in the foreground under the namespace's init; `kill -HUP "$(cat /run/sshd.pid)"` inside reloads it (sshd
# re-executes itself with the same pid, which keeps the init's child).
# The rootfs directory comes from DEMESNE_TESTHOST_ROOTFS, or rootfs.sh next to this script.
set -euo pipefail

# ip, chroot and friends live in sbin, which a non-login root shell may not have on PATH.
PATH=$PATH:/usr/sbin:/sbin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
STATE_ROOT=$(realpath -m -- "${DEMESNE_TESTHOST_DIR:-${TMPDIR:-/tmp}/demesne-testhosts}")
# Capabilities nothing inside needs and that reach past the namespaces: kernel modules, the clock, the
# kernel log, raw I/O ports.
DROP_CAPS=-sys_module,-sys_time,-syslog,-sys_rawio
INNER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[testhost] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [[ $(id -u) == 0 ]] || die "the test host needs root (overlay mounts, network namespaces, nsenter)"; }
need_tools() {
  local t missing=()
  for t in ip mount umount findmnt unshare nsenter setpriv setsid chroot hostname ssh-keygen ssh-keyscan flock; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  ((${#missing[@]} == 0)) || die "not on PATH: ${missing[*]}; apt-get install openssh-client iproute2 util-linux mount"
}
check_name() { [[ $1 =~ ^[a-z][a-z0-9-]{0,15}$ ]] || die "bad NAME '$1' (want [a-z][a-z0-9-]{0,15})"; }

# Field 22 of /proc/PID/stat (start time in ticks): with the pid it identifies one process across pid reuse.
# Nothing for a zombie: it is gone as far as we are concerned, whoever reaps it.
starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086 # split the fields on purpose
  set -- $stat
  [[ $1 != Z ]] || return 1
  printf '%s\n' "${20}"
}

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# One lock for the state dir root (a directory can be flock'ed: no lock files left behind).
lock_state_root() {
  mkdir -p "$STATE_ROOT"
  exec 8<"$STATE_ROOT"
  flock 8
}

# ---------------------------------------------------------------- down

# Undo the lines of <state>/created in reverse order; each kind is removed only if it is still the thing we made.
teardown() {
  local name=$1 state=$STATE_ROOT/$1 kind a b i
  [[ -d $state ]] || return 0
  local lines=()
  [[ -f $state/created ]] && mapfile -t lines <"$state/created"
  for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
    read -r kind a b <<<"${lines[i]}"
    case $kind in
      pid)
        if [[ -n $b && $(starttime "$a" || true) == "$b" ]]; then
          # SIGKILL to a pid namespace's init ends every process in it, and with them its mount namespace.
          kill -KILL "$a" 2>/dev/null || true
          local n=0
          while [[ $(starttime "$a" || true) == "$b" ]] && ((n++ < 100)); do sleep 0.05; done
        fi ;;
      mount)
        if findmnt -rn --mountpoint "$a" >/dev/null; then
          umount "$a" 2>/dev/null || umount -l "$a" || log "warning: could not unmount $a"
        fi ;;
      link) ip link del "$a" 2>/dev/null || true ;;
      netns) ip netns del "$a" 2>/dev/null || true ;;
    esac
  done
  if findmnt -rn -o TARGET | grep -qF -- "$state/"; then
    die "something is still mounted under $state; not removing it"
  fi
  rm -rf --one-file-system "$state"
}

cmd_down() {
  [[ $# == 1 ]] || die "usage: testhost.sh down NAME"
  check_name "$1"
  need_root
  lock_state_root
  teardown "$1"
  log "$1 is down"
}

cmd_down_all() {
  need_root
  local d
  [[ -d $STATE_ROOT ]] || return 0
  for d in "$STATE_ROOT"/*/; do
    [[ -d $d ]] || continue
    d=$(basename "$d")
    [[ $d =~ ^[a-z][a-z0-9-]{0,15}$ ]] || continue
    cmd_down "$d"
  done
}

# ---------------------------------------------------------------- up

cmd_up() {
  [[ $# == 2 ]] || die "usage: testhost.sh up NAME INDEX"
  local name=$1 index=$2
  check_name "$name"
  [[ $index =~ ^[0-9]+$ ]] && ((index >= 1 && index <= 250)) || die "bad INDEX '$index' (want 1..250)"
  need_root
  need_tools
  local lower=${DEMESNE_TESTHOST_ROOTFS:-}
  [[ -n $lower ]] || lower=$("$HERE/rootfs.sh")
  [[ -f $lower/.complete ]] || die "no complete rootfs at $lower (run test/host/rootfs.sh)"

  lock_state_root
  local state=$STATE_ROOT/$name
  local netns=demesne-$name host=dmh$index guest=dmg$index
  local addr=10.251.$index.2 root=$state/root
  mkdir "$state" 2>/dev/null || die "$name is already up (state dir $state exists; run: testhost.sh down $name)"
  # From here on a failure tears down whatever this run recorded.
  trap 'rc=$?; if ((rc != 0)); then log "up failed; tearing down $name"; teardown "$name" || true; fi' EXIT
  trap 'exit 143' TERM INT HUP
  printf '%s\n' "$index" >"$state/index"
  : >"$state/created"
  ip link show "$host" >/dev/null 2>&1 && die "index $index is in use: $host already exists"
  ip netns list | awk '{ print $1 }' | grep -qxF -- "$netns" && die "network namespace $netns already exists"

  local start=$SECONDS
  mkdir "$state/upper" "$state/work" "$root"
  mount -t overlay "demesne-testhost-$name" -o "lowerdir=$lower,upperdir=$state/upper,workdir=$state/work" "$root"
  echo "mount $root" >>"$state/created"

  ip netns add "$netns"
  echo "netns $netns" >>"$state/created"
  ip link add "$host" type veth peer name "$guest"
  echo "link $host" >>"$state/created"
  ip link set "$guest" netns "$netns"
  ip addr add "10.251.$index.1/30" dev "$host"
  ip link set "$host" up
  ip -n "$netns" link set lo up
  ip -n "$netns" addr add "$addr/30" dev "$guest"
  ip -n "$netns" link set "$guest" up

  # The host's identity, written into the overlay's upper layer. Removing the image's keys leaves whiteouts.
  rm -f "$root"/etc/ssh/ssh_host_*
  ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$root/etc/ssh/ssh_host_ed25519_key"
  # 90- so that a 00- hardening drop-in installed by a test comes first (sshd keeps the first value it reads).
  cat >"$root/etc/ssh/sshd_config.d/90-testhost.conf" <<EOF
# The sandboxed test host (test/host/testhost.sh).
HostKey /etc/ssh/ssh_host_ed25519_key
ListenAddress $addr:22
PermitRootLogin no
EOF
  printf '%s\n' "$name" >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n%s\t%s\n' "$addr" "$name" >"$root/etc/hosts"
  # /etc/default/ufw stays as shipped: ufw-init applies IPT_SYSCTL with `|| true`, so the read-only
  # /proc/sys only makes that step a silent no-op and `ufw enable` still succeeds.

  ssh-keygen -q -t ed25519 -N '' -C "admin@$name" -f "$state/admin_ed25519"
  chroot "$root" useradd -m -u 1000 -U -s /bin/bash admin
  # '*' rather than useradd's locked '!': no password, but not a locked account either.
  chroot "$root" usermod -p '*' admin
  install -d -m 700 "$root/home/admin/.ssh"
  install -m 600 "$state/admin_ed25519.pub" "$root/home/admin/.ssh/authorized_keys"
  chroot "$root" chown -R admin:admin /home/admin/.ssh

  # The namespaced init (see cmd_init) records its own pid; unshare stays as its parent until it exits.
  # Not holding the lock (fd 8), so that `down` can take it.
  setsid -w ip netns exec "$netns" unshare --mount --pid --uts --fork --propagation private \
    bash "$SELF" _init "$state" "$name" </dev/null >>"$state/sshd.log" 2>&1 8>&- &
  local upid=$!
  # No job notice on stderr when down kills it.
  disown "$upid"
  local ustart
  ustart=$(starttime "$upid") || die "the namespace launcher exited at once: $(tail -n 5 "$state/sshd.log")"
  echo "pid $upid $ustart" >>"$state/created"

  local deadline=$((SECONDS + 20)) pid="" hostkey scanned=""
  hostkey=$(cut -d' ' -f1,2 "$root/etc/ssh/ssh_host_ed25519_key.pub")
  while ((SECONDS < deadline)); do
    if [[ -z $pid && -s $state/pid ]]; then
      pid=$(<"$state/pid")
      # Recorded only with its start time, so that down can never kill a recycled pid.
      local st
      st=$(starttime "$pid") || { tail -n 20 "$state/sshd.log" >&2; die "the namespaced init exited at once"; }
      echo "pid $pid $st" >>"$state/created"
    fi
    [[ $(starttime "$upid" || true) == "$ustart" ]] || break
    grep -q '^\[testhost\] sshd exited' "$state/sshd.log" && break
    if [[ -n $pid ]]; then
      scanned=$(ssh-keyscan -T 2 -t ed25519 "$addr" 2>/dev/null | cut -d' ' -f2,3 || true)
      [[ -n $scanned ]] && break
    fi
    sleep 0.1
  done
  if [[ -z $scanned ]]; then
    tail -n 20 "$state/sshd.log" >&2 || true
    die "sshd on $addr:22 did not come up (waited up to 20 s; its log is above)"
  fi
  [[ $scanned == "$hostkey" ]] || die "the host key at $addr:22 is not the one just generated: $scanned"
  trap - EXIT
  log "$name is up at $addr in $((SECONDS - start))s"

  printf '{"name":%s,"index":%d,"address":%s,"port":22,"root":%s,"stateDir":%s,"hostKey":%s,"adminKey":%s,"netns":%s,"pid":%d}\n' \
    "$(json_str "$name")" "$index" "$(json_str "$addr")" "$(json_str "$root")" "$(json_str "$state")" \
    "$(json_str "$hostkey")" "$(json_str "$state/admin_ed25519")" "$(json_str "$netns")" "$pid"
}

# Runs as pid 1 of the new pid namespace, in fresh mount and uts namespaces, inside the host's network
# namespace; its stdout/stderr are <state>/sshd.log.
cmd_init() {
  local state=$1 name=$2 root=$1/root self p d
  # /proc here is still the machine's, so /proc/self names this process by its pid outside.
  read -r self _ </proc/self/stat
  mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
  # Read-only kernel knobs, so nothing inside can change the machine's kernel settings.
  for p in sys sysrq-trigger irq bus fs; do
    [[ -e $root/proc/$p ]] && mount --bind -o ro "$root/proc/$p" "$root/proc/$p"
  done
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
  mount -t tmpfs -o nosuid,mode=755,size=1m tmpfs "$root/dev"
  for d in null zero full random urandom tty; do
    : >"$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
  done
  mkdir -m 755 "$root/dev/pts"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  mkdir "$root/dev/shm"
  mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m tmpfs "$root/dev/shm"
  mount -t tmpfs -o nosuid,nodev,noexec,mode=755 tmpfs "$root/run"
  mkdir -m 755 "$root/run/sshd"
  hostname "$name"
  echo "$self" >"$state/pid.tmp"
  mv "$state/pid.tmp" "$state/pid"
  # The init outlives sshd, so `exec` keeps a stable target (a test may restart sshd); `wait` reaps orphans.
  # The exit line tells a waiting `up` to stop waiting.
  exec setpriv --bounding-set "$DROP_CAPS" -- chroot "$root" /usr/bin/env -i PATH="$INNER_PATH" /bin/bash -c '
    /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
    wait $!
    echo "[testhost] sshd exited with status $?"
    while :; do wait; sleep 1; done'
}

# ---------------------------------------------------------------- exec

cmd_exec() {
  [[ $# -ge 3 && $2 == -- ]] || die "usage: testhost.sh exec NAME -- CMD..."
  local name=$1
  shift 2
  check_name "$name"
  need_root
  local state=$STATE_ROOT/$name pid
  [[ -s $state/pid ]] || die "$name is not up (no $state/pid)"
  pid=$(<"$state/pid")
  grep -qx "pid $pid $(starttime "$pid" || echo gone)" "$state/created" || die "$name is not running (init $pid is gone)"
  exec nsenter --target "$pid" --mount --uts --net --pid --root --wd -- \
    setpriv --bounding-set "$DROP_CAPS" -- env -i PATH="$INNER_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  down-all) shift; cmd_down_all ;;
  exec) shift; cmd_exec "$@" ;;
  _init) shift; cmd_init "$@" ;;
  *) die "usage: testhost.sh up NAME INDEX | exec NAME -- CMD... | down NAME | down-all" ;;
esac
