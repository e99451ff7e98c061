# shellcheck shell=bash
# What `testhost.sh up NAME --docker` adds to a test host so that Docker runs in it (sourced by testhost.sh;
# test/controlplane uses it): the trixie rootfs (rootfs.sh controlplane), a systemctl stand-in that starts
# containerd and dockerd as Debian's units would (systemctl-shim.sh, adr/0018), the machine's cgroup
# hierarchies, scratch space Docker's overlay driver can use, IPv6 on the link, and dockerd running at boot.

# up, before the init starts: files in the overlay and the link's IPv6 addresses (fd51:251:INDEX::/64, the
# machine side ::1, the host ::2; nodad so they answer at once).
docker_prepare() {
  local root=$1 index=$2 state=$3 host=$4 netns=$5 guest=$6
  install -m 755 "$HERE/systemctl-shim.sh" "$root/usr/local/sbin/systemctl"
  # Containers' cgroups go under a parent of this host's own, which down removes (the processes in them die
  # with the host's pid namespace, their empty cgroups stay behind otherwise).
  echo "cgroup demesne-th$index" >>"$state/created"
  # The second line: a container's eth0 keeps IPv6 on (link-local only; Docker's bridge has no IPv6 here).
  # Docker turns it off through the container's /proc/sys/net/ipv6, which is read-only here: a bind mount
  # over a sysctl directory holds for the network namespace that made it, not for a container's (adr/0018).
  printf '%s\n' '# The control-plane test host (test/host/docker-host.sh): containers under a cgroup of its own.' \
    "DOCKER_OPTS=\"--cgroup-parent=/demesne-th$index\"" 'DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1' >"$root/etc/default/docker"
  mkdir -p "$root/var/lib/docker" "$root/var/lib/containerd"
  ip addr add "fd51:251:$index::1/64" dev "$host" nodad
  ip -n "$netns" addr add "fd51:251:$index::2/64" dev "$guest" nodad
}

# The init, inside the host's namespaces, after it has made the host's /proc/sys read-only, before the chroot.
docker_init() {
  local root=$1
  # The one kernel knob Docker must change is per network namespace: set through the machine's /proc (this
  # process is in the host's network namespace), so that it can stay read-only inside and dockerd leaves it.
  echo 1 >/proc/sys/net/ipv4/ip_forward
  # Docker also writes IPv6 knobs of its interfaces (a container's eth0, docker0): net.ipv6 stays writable.
  # Every knob under it is the network namespace's own.
  mount --bind "$root/proc/sys/net/ipv6" "$root/proc/sys/net/ipv6"
  mount -o remount,bind,rw "$root/proc/sys/net/ipv6"
  # The machine's hierarchies, for runc (the "Devices cgroup isn't mounted" without them).
  mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
  # Docker's overlay driver cannot use an overlay (the host's root) as its upper layer: a tmpfs each, gone
  # with the mount namespace.
  mount -t tmpfs -o mode=711,size=2g tmpfs "$root/var/lib/docker"
  mount -t tmpfs -o mode=711,size=1g tmpfs "$root/var/lib/containerd"
}

# down: the host's cgroups in every hierarchy, deepest first. The processes are gone by now, unless up never
# learnt the host's init (a systemd-nspawn host that failed early): what still runs in them is this host's.
docker_cgroups_remove() {
  local name=$1 d
  [[ $name =~ ^demesne-th[0-9]+$ ]] || return 0
  for d in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
    [[ -d $d ]] || continue
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      find "$d" -name cgroup.procs -exec cat -- {} + 2>/dev/null | while read -r p; do kill -KILL "$p" 2>/dev/null || true; done
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $d ]] || break
      sleep 0.1
    done
    [[ ! -d $d ]] || log "warning: could not remove the cgroup $d (something still runs in it)"
  done
}

# up, after sshd answers: dockerd answers too (the init started it), or up fails with its log.
docker_wait() {
  local state=$1 pid=$2 deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    if nsenter --target "$pid" --mount --uts --net --pid --root --wd -- env -i PATH="$INNER_PATH" \
      docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; then
      return 0
    fi
    grep -q '^\[testhost\] docker did not start' "$state/sshd.log" && break
    sleep 0.2
  done
  tail -n 20 "$state/sshd.log" >&2 || true
  tail -n 20 "$state/root/var/log/docker.log" >&2 2>/dev/null || true
  die "dockerd did not answer inside the host (waited up to 90 s; its log is above)"
}
