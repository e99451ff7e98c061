# shellcheck shell=bash
# What `testhost.sh up NAME --systemd` does instead of the namespaced init (sourced by testhost.sh;
# test/controlplane/systemd.test.ts uses it): the trixie rootfs's own systemd 257 as PID 1, started by
# systemd-nspawn in the host's network namespace, so ssh.service and docker.service (socket activation,
# restarts, systemd-run timers) are the real units. Why each flag: adr/0018.

# up, before the boot: what docker_prepare does for the stand-in host, minus the stand-in and the cgroup
# parent (Docker under systemd uses its systemd cgroup driver, inside the host's own cgroup).
systemd_prepare() {
  local root=$1 index=$2 state=$3 host=$4 netns=$5 guest=$6
  command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: apt-get install systemd-container"
  [[ -x $root/usr/lib/systemd/systemd && -x $root/usr/sbin/dockerd ]] ||
    die "no systemd or dockerd in the rootfs (test/host/rootfs.sh controlplane builds one)"
  [[ -d /sys/fs/cgroup/unified && -d /sys/fs/cgroup/systemd ]] ||
    die "the machine has no cgroup2 at /sys/fs/cgroup/unified or name=systemd at /sys/fs/cgroup/systemd"
  # Recorded before it is made, so that a failed up removes it too.
  echo "cgroup demesne-th$index" >>"$state/created"
  mkdir -p "/sys/fs/cgroup/unified/demesne-th$index" "/sys/fs/cgroup/systemd/demesne-th$index"
  # ssh.service, docker.socket and docker.service are enabled by their packages; sshd serves the key up
  # generated (testhost.sh's 90-testhost drop-in names it).
  ip addr add "fd51:251:$index::1/64" dev "$host" nodad
  ip -n "$netns" addr add "fd51:251:$index::2/64" dev "$guest" nodad
}

# up: boots the host in the background; sets upid/ustart (the nspawn) for cmd_up's wait, and writes
# STATE/pid (the host's systemd, as the machine numbers it) once it runs.
systemd_launch() {
  local state=$1 root=$2 name=$3 netns=$4 index=$5 cg=demesne-th$5
  # The launcher joins the host's own cgroups before exec: --keep-unit --register=no makes nspawn put its
  # payload and supervisor cgroups beside itself, which would otherwise be the machine's root cgroups.
  (
    echo "$BASHPID" >"/sys/fs/cgroup/unified/$cg/cgroup.procs"
    echo "$BASHPID" >"/sys/fs/cgroup/systemd/$cg/cgroup.procs"
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_NSPAWN_API_VFS_WRITABLE=network \
      exec setsid systemd-nspawn --quiet --register=no --keep-unit --console=read-only -D "$root" -M "$name" --boot \
      --capability=CAP_NET_ADMIN --system-call-filter="@keyring bpf" \
      --network-namespace-path="/run/netns/$netns" \
      --tmpfs=/var/lib/docker:mode=711 --tmpfs=/var/lib/containerd:mode=711
  ) </dev/null >>"$state/sshd.log" 2>&1 8>&- &
  upid=$!
  disown "$upid"
  ustart=$(starttime "$upid") || die "systemd-nspawn exited at once: $(tail -n 5 "$state/sshd.log")"
  echo "pid $upid $ustart" >>"$state/created"
  # The host's PID 1: the process in the host's cgroups whose pid in its own namespace is 1.
  local deadline=$((SECONDS + 20)) p
  while ((SECONDS < deadline)); do
    [[ $(starttime "$upid" || true) == "$ustart" ]] || break
    while read -r p; do
      if awk '$1 == "NSpid:" && NF == 3 && $3 == 1 { found = 1 } END { exit !found }' "/proc/$p/status" 2>/dev/null; then
        echo "$p" >"$state/pid"
        return 0
      fi
    done < <(find "/sys/fs/cgroup/unified/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
    sleep 0.1
  done
  tail -n 20 "$state/sshd.log" >&2 || true
  die "the host's systemd did not start under systemd-nspawn"
}
