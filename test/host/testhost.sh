#!/usr/bin/env bash
# The sandboxed test host: the cached Debian rootfs (rootfs.sh) under a per-host overlay, in its own network
# namespace behind a veth pair, with sshd as the only service. Everything it creates is recorded in the state
# dir so that `down` removes exactly that and nothing else.
#   test/host/testhost.sh up NAME           start; prints one JSON object with the INDEX it took (progress on stderr)
#   test/host/testhost.sh up NAME --docker  the control-plane host: Debian trixie with dockerd running (docker-host.sh)
#   test/host/testhost.sh up NAME --systemd the same with trixie's systemd as PID 1 under systemd-nspawn (systemd-host.sh)
#   test/host/testhost.sh exec INDEX -- CMD run CMD as root inside (stdio and exit code passed through)
#   test/host/testhost.sh down INDEX        tear down (idempotent, also for a half-created host)
#   test/host/testhost.sh sweep             tear down every host whose owner process is gone
# Several runs (two checkouts, a developer's run beside CI's) share the machine: `up` takes the next free
# INDEX after the last one taken, under a lock on /run/demesne-testhost, where a lease per index names its
# owner (the process that asked, DEMESNE_TESTHOST_OWNER or the caller, by pid and start time) and its state
# dir; leases of dead owners are torn down first. NAME is only the hostname inside, so two runs may both
# have a host called web-1.
# Addressing: the machine side is dmh<INDEX> 10.251.INDEX.1/30, the host side dmg<INDEX> 10.251.INDEX.2/30, in
# network namespace demesne-th<INDEX>. The host gets no default route, so it can reach nothing but the
# machine's end of its own veth.
# There is no systemd inside (but with --systemd): systemctl is absent, so probes report the unit list as
# unavailable. sshd runs in the foreground under the namespace's init; `kill -HUP "$(cat /run/sshd.pid)"`
# inside reloads it (sshd re-executes itself with the same pid, which keeps the init's child).
# The rootfs directory comes from DEMESNE_TESTHOST_ROOTFS, or rootfs.sh next to this script.
set -euo pipefail
# shellcheck source=test/host/docker-host.sh
. "$(dirname "${BASH_SOURCE[0]}")/docker-host.sh"
# shellcheck source=test/host/systemd-host.sh
. "$(dirname "${BASH_SOURCE[0]}")/systemd-host.sh"

# ip, chroot and friends live in sbin, which a non-login root shell may not have on PATH.
PATH=$PATH:/usr/sbin:/sbin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
# Where each host's overlay and keys live; per run if you like. The leases are machine-wide on purpose:
# interface names, namespaces and addresses are.
STATE_ROOT=$(realpath -m -- "${DEMESNE_TESTHOST_DIR:-${TMPDIR:-/tmp}/demesne-testhosts}")
LEASES=/run/demesne-testhost
MAX_INDEX=250
# Capabilities nothing inside needs and that reach past the namespaces: kernel modules, the clock, the
# kernel log, raw I/O ports.
DROP_CAPS=-sys_module,-sys_time,-syslog,-sys_rawio
INNER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[testhost] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [[ $(id -u) == 0 ]] || die "the test host needs root (overlay mounts, network namespaces, nsenter)"; }
need_tools() {
  local t missing=()
  for t in ip mount umount findmnt unshare nsenter setpriv setsid chroot pivot_root hostname ssh-keygen ssh-keyscan flock; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  ((${#missing[@]} == 0)) || die "not on PATH: ${missing[*]}; apt-get install openssh-client iproute2 util-linux mount"
}
check_name() { [[ $1 =~ ^[a-z][a-z0-9-]{0,15}$ ]] || die "bad NAME '$1' (want [a-z][a-z0-9-]{0,15})"; }
check_index() {
  if [[ ! $1 =~ ^[1-9][0-9]{0,2}$ ]] || (($1 > MAX_INDEX)); then die "bad INDEX '$1' (want 1..$MAX_INDEX, as printed by up)"; fi
}

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

# One machine-wide lock over the leases (a directory can be flock'ed: no lock files left behind). Held only
# to take, check or give back a lease, never while a host boots.
lock_leases() {
  mkdir -m 700 "$LEASES" 2>/dev/null || [[ -d $LEASES ]]
  exec 8<"$LEASES"
  flock 8
}
unlock_leases() { exec 8<&-; }

# A lease: "owner PID START", "state DIR", "name NAME"; prints field $2 of lease $1.
lease_field() { [[ ! -f $LEASES/$1 ]] || awk -v k="$2" '$1 == k { print $2; exit }' "$LEASES/$1"; }
owner_alive() {
  local pid start
  read -r _ pid start < <(grep '^owner ' "$LEASES/$1" 2>/dev/null || true)
  [[ -n ${start:-} && $(starttime "$pid" || true) == "$start" ]]
}

# ---------------------------------------------------------------- down

# Undo the lines of STATE/created in reverse order; each kind is removed only if it is still the thing we made.
teardown() {
  local state=$1 kind a b i
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
      cgroup) docker_cgroups_remove "$a" ;;
    esac
  done
  if findmnt -rn -o TARGET | grep -qF -- "$state/"; then
    die "something is still mounted under $state; not removing it"
  fi
  rm -rf --one-file-system "$state"
}

# With the lease lock held: tear down host INDEX and give its lease back.
release() {
  local state
  state=$(lease_field "$1" state)
  [[ -z $state ]] || teardown "$state"
  rm -f "$LEASES/$1"
}

# With the lease lock held: the hosts of runs that ended without tearing down (killed, crashed).
sweep_locked() {
  local f i
  for f in "$LEASES"/*; do
    i=${f##*/}
    [[ $i =~ ^[0-9]+$ && -f $f ]] || continue
    owner_alive "$i" && continue
    log "index $i: its owner ($(lease_field "$i" name), pid $(lease_field "$i" owner)) is gone; tearing it down"
    # In a subshell: a leftover that cannot be removed (its die) keeps its lease but does not stop this up.
    (release "$i") || log "warning: could not tear down index $i; its lease stays"
  done
}

cmd_down() {
  [[ $# == 1 ]] || die "usage: testhost.sh down INDEX"
  check_index "$1"
  need_root
  lock_leases
  release "$1"
  log "index $1 is down"
}

cmd_sweep() {
  [[ $# == 0 ]] || die "usage: testhost.sh sweep"
  need_root
  lock_leases
  sweep_locked
}

# ---------------------------------------------------------------- up

# With the lease lock held: the next index after the last one taken (wrapping, so that a just-freed index,
# and with it an address someone may still remember with another host key, is not handed out again at once)
# with no lease and whose interface, namespace and addresses are free on the machine too (a host of an
# older testhost.sh or another tool may hold them without a lease).
free_index() {
  local last=0 k i
  [[ -f $LEASES/last ]] && last=$(<"$LEASES/last")
  [[ $last =~ ^[0-9]+$ ]] || last=0
  for ((k = 1; k <= MAX_INDEX; k++)); do
    i=$(((last + k - 1) % MAX_INDEX + 1))
    [[ -e $LEASES/$i ]] && continue
    ip link show "dmh$i" >/dev/null 2>&1 && continue
    [[ -e /run/netns/demesne-th$i ]] && continue
    [[ -z $(ip -4 -o addr show to "10.251.$i.0/30") ]] || continue
    echo "$i" >"$LEASES/last"
    echo "$i"
    return 0
  done
  return 1
}

# Takes a lease for NAME owned by pid $2 and prints its index; the state dir is made empty.
take_lease() {
  local name=$1 owner=$2 ostart i
  ostart=$(starttime "$owner") || die "the owner process $owner is not running (DEMESNE_TESTHOST_OWNER)"
  lock_leases
  sweep_locked
  i=$(free_index) || die "all $MAX_INDEX test host indices are taken (see $LEASES; testhost.sh sweep frees those of dead runs)"
  # Nobody holds index i, so what a state dir of it holds is a leftover (e.g. /run was emptied by a reboot).
  teardown "$STATE_ROOT/$i"
  mkdir -p "$STATE_ROOT/$i"
  printf 'owner %s %s\nstate %s\nname %s\n' "$owner" "$ostart" "$STATE_ROOT/$i" "$name" >"$LEASES/.$i.tmp"
  mv "$LEASES/.$i.tmp" "$LEASES/$i"
  unlock_leases
  echo "$i"
}

cmd_up() {
  [[ $# == 1 || ($# == 2 && ($2 == --docker || $2 == --systemd)) ]] || die "usage: testhost.sh up NAME [--docker|--systemd] (the index is chosen for you and printed)"
  local name=$1 docker=${2:-} owner=${DEMESNE_TESTHOST_OWNER:-$PPID}
  check_name "$name"
  [[ $owner =~ ^[1-9][0-9]*$ ]] || die "bad DEMESNE_TESTHOST_OWNER '$owner' (want a pid)"
  need_root
  need_tools
  local lower=${DEMESNE_TESTHOST_ROOTFS:-}
  [[ -n $lower ]] || if [[ -n $docker ]]; then lower=$("$HERE/rootfs.sh" controlplane); else lower=$("$HERE/rootfs.sh"); fi
  [[ -f $lower/.complete ]] || die "no complete rootfs at $lower (run test/host/rootfs.sh)"

  mkdir -p "$STATE_ROOT"
  local index
  index=$(take_lease "$name" "$owner")
  local state=$STATE_ROOT/$index
  local netns=demesne-th$index host=dmh$index guest=dmg$index
  local addr=10.251.$index.2 root=$state/root
  # From here on a failure tears down whatever this run recorded and gives the lease back.
  trap 'rc=$?; if ((rc != 0)); then log "up failed; tearing down $name (index $index)"; lock_leases; release "$index" || true; fi' EXIT
  trap 'exit 143' TERM INT HUP
  printf '%s\n' "$name" >"$state/name"
  : >"$state/created"

  local start=$SECONDS
  mkdir "$state/upper" "$state/work" "$root"
  mount -t overlay "demesne-testhost-$index" -o "lowerdir=$lower,upperdir=$state/upper,workdir=$state/work" "$root"
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
  # /etc/default/ufw stays as shipped: ufw-init applies IPT_SYSCTL with `|| true`; its network keys land in
  # the host's own namespace (/proc/sys/net is writable there), any other key is a silent no-op.

  ssh-keygen -q -t ed25519 -N '' -C "admin@$name" -f "$state/admin_ed25519"
  chroot "$root" useradd -m -u 1000 -U -s /bin/bash admin
  # '*' rather than useradd's locked '!': no password, but not a locked account either.
  chroot "$root" usermod -p '*' admin
  install -d -m 700 "$root/home/admin/.ssh"
  install -m 600 "$state/admin_ed25519.pub" "$root/home/admin/.ssh/authorized_keys"
  chroot "$root" chown -R admin:admin /home/admin/.ssh
  if [[ $docker == --systemd ]]; then
    systemd_prepare "$root" "$index" "$state" "$host" "$netns" "$guest"
  elif [[ -n $docker ]]; then
    [[ -x $lower/usr/sbin/dockerd ]] || die "no dockerd in the rootfs $lower (test/host/rootfs.sh controlplane builds one)"
    docker_prepare "$root" "$index" "$state" "$host" "$netns" "$guest"
  fi

  # The namespaced init (see cmd_init) records its own pid; unshare stays as its parent until it exits.
  # Not holding the lock (fd 8), so that `down` can take it.
  # nsenter rather than `ip netns exec`, which mounts a fresh /sys over the machine's cgroup hierarchies.
  local upid ustart wait_s=20
  if [[ $docker == --systemd ]]; then
    systemd_launch "$state" "$root" "$name" "$netns" "$index"
    wait_s=60
  else
    setsid -w nsenter --net="/run/netns/$netns" unshare --mount --pid --uts --fork --propagation private \
      bash "$SELF" _init "$state" "$name" "$docker" </dev/null >>"$state/sshd.log" 2>&1 8>&- &
    upid=$!
    # No job notice on stderr when down kills it.
    disown "$upid"
    ustart=$(starttime "$upid") || die "the namespace launcher exited at once: $(tail -n 5 "$state/sshd.log")"
    echo "pid $upid $ustart" >>"$state/created"
  fi

  local deadline=$((SECONDS + wait_s)) pid="" hostkey scanned=""
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
    die "sshd on $addr:22 did not come up (waited up to $wait_s s; its log is above)"
  fi
  [[ $scanned == "$hostkey" ]] || die "the host key at $addr:22 is not the one just generated: $scanned"
  [[ -z $docker ]] || docker_wait "$state" "$pid"
  trap - EXIT
  log "$name is up at $addr in $((SECONDS - start))s"

  printf '{"name":%s,"index":%d,"address":%s,"network":%s,"port":22,"root":%s,"stateDir":%s,"hostKey":%s,"adminKey":%s,"netns":%s,"pid":%d}\n' \
    "$(json_str "$name")" "$index" "$(json_str "$addr")" "$(json_str "10.251.$index.0/30")" "$(json_str "$root")" "$(json_str "$state")" \
    "$(json_str "$hostkey")" "$(json_str "$state/admin_ed25519")" "$(json_str "$netns")" "$pid"
}

# Runs as pid 1 of the new pid namespace, in fresh mount and uts namespaces, inside the host's network
# namespace; its stdout/stderr are <state>/sshd.log.
cmd_init() {
  local state=$1 name=$2 docker=${3:-} root=$1/root self p d
  # /proc here is still the machine's, so /proc/self names this process by its pid outside.
  read -r self _ </proc/self/stat
  mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
  # Read-only kernel knobs, so nothing inside can change the machine's kernel settings.
  for p in sys sysrq-trigger irq bus fs; do
    [[ -e $root/proc/$p ]] && mount --bind -o ro "$root/proc/$p" "$root/proc/$p"
  done
  # but the network's: a child namespace sees only its own (the hardening layer sets and proves them here)
  mount --bind "$root/proc/sys/net" "$root/proc/sys/net" && mount -o remount,bind,rw "$root/proc/sys/net"
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
  [[ -z $docker ]] || docker_init "$root"
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
  # pivot_root, not chroot: whatever joins this mount namespace (nsenter, `docker exec` through a runtime
  # that joins a container's) gets the namespace's root, which a chroot would leave the machine's /.
  cd "$root" && pivot_root . . && umount -l . && cd /
  # The init outlives sshd, so `exec` keeps a stable target (a test may restart sshd); `wait` reaps orphans.
  # The exit line tells a waiting `up` to stop waiting.
  # shellcheck disable=SC2016 # expanded by the shell inside, on purpose
  exec setpriv --bounding-set "$DROP_CAPS" -- /usr/bin/env -i PATH="$INNER_PATH" /bin/bash -c '
    /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
    s=$!
    # The control-plane host: the systemctl stand-in starts containerd and dockerd, as boot would.
    if [ -f /usr/local/sbin/systemctl ]; then systemctl start docker || echo "[testhost] docker did not start"; fi
    wait $s
    echo "[testhost] sshd exited with status $?"
    while :; do wait; sleep 1; done'
}

# ---------------------------------------------------------------- exec

cmd_exec() {
  [[ $# -ge 3 && $2 == -- ]] || die "usage: testhost.sh exec INDEX -- CMD..."
  local index=$1
  shift 2
  check_index "$index"
  need_root
  local state pid
  state=$(lease_field "$index" state)
  [[ -n $state && -s $state/pid ]] || die "index $index is not up (no lease in $LEASES or no pid in its state dir)"
  pid=$(<"$state/pid")
  grep -qx "pid $pid $(starttime "$pid" || echo gone)" "$state/created" || die "index $index is not running (init $pid is gone)"
  exec nsenter --target "$pid" --mount --uts --net --pid --ipc --cgroup --root --wd -- \
    setpriv --bounding-set "$DROP_CAPS" -- env -i PATH="$INNER_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  sweep) shift; cmd_sweep "$@" ;;
  exec) shift; cmd_exec "$@" ;;
  _init) shift; cmd_init "$@" ;;
  *) die "usage: testhost.sh up NAME | exec INDEX -- CMD... | down INDEX | sweep" ;;
esac
