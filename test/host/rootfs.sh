#!/usr/bin/env bash
# The sandboxed test host's root filesystem: Debian bookworm made with debootstrap from the mirror this
# machine's apt already uses, cached outside the work tree (keyed by the package list) and used read-only as
# the lower layer of each test host's overlay. Prints the directory. The test host has no network, so the
# list includes the baseline layer's packages (BASELINE_PACKAGES in components/host/layers.ts; a test checks),
# what the hardening layer needs on the host (auditd, kmod, procps), and lynis, the judge the hardening test
# runs inside the host (test/controlplane/hardening-judges.test.ts).
#   test/host/rootfs.sh            build if missing (progress on stderr), print the path
#   test/host/rootfs.sh controlplane   the same for the control-plane host (test/controlplane): Debian trixie,
#                                  the closest suite to Ubuntu 24.04 (Docker 26, systemd 257), with Docker's
#                                  packages in the image so the docker layer takes its "already installed" branch
#                                  (docker-cli too: Ubuntu's docker.io has the client, Debian's only recommends it),
#                                  busybox-static, from which the tests build their one container image, and
#                                  ssh-audit 3.x (bookworm's 2.5.0 has no DHEat test), which the hardening test
#                                  runs from this machine's side through the rootfs (chroot), never inside a host
# Two runs may ask at once: one builds under a lock on the cache while the other waits, into a temporary
# directory renamed into place complete, so the path printed is never half-built.
set -euo pipefail

PACKAGES=openssh-server,sudo,ufw,iptables,iproute2,procps,kmod,findutils,grep,ca-certificates,curl,jq,unattended-upgrades,auditd,lynis,restic,cryptsetup-bin
SUITE=bookworm
CONTROLPLANE_PACKAGES=docker.io,docker-cli,docker-compose,containerd,docker-registry,busybox-static,ssh-audit,postgresql
case ${1:-host} in
  host) ;;
  controlplane) SUITE=trixie PACKAGES=$PACKAGES,$CONTROLPLANE_PACKAGES ;;
  *) printf '[rootfs] error: unknown rootfs %s (want: controlplane, or nothing)\n' "$1" >&2; exit 2 ;;
esac
# Bumped whenever what is done to the image after debootstrap changes, so that a cached image is rebuilt.
IMAGE_REVISION=2
KEY=$(printf '%s %s %s' "$SUITE" "$PACKAGES" "$IMAGE_REVISION" | sha256sum | cut -c1-12)
CACHE=${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/rootfs
DIR=$CACHE/$SUITE-$KEY
log() { printf '[rootfs] %s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { log "error: building the test host needs root (debootstrap, overlay mounts, network namespaces)"; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -n 9 || { log "another run holds the rootfs cache (a build takes about a minute); waiting for it"; flock 9; }
if [[ -f $DIR/.complete ]]; then
  echo "$DIR"
  exit 0
fi
# Every build holds the lock, so a build directory here is what a killed one left; debootstrap may have left
# /proc and /sys mounted in it.
for old in "$CACHE"/.build-*; do
  [[ -d $old ]] || continue
  { findmnt -rn -o TARGET | grep -F -- "$old/" || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$old"
done
command -v debootstrap >/dev/null || { log "error: debootstrap is missing: apt-get install -y debootstrap"; exit 1; }
# trixie's key, which debootstrap checks the archive against; an Ubuntu machine has Ubuntu's keyring only.
[[ $SUITE != trixie || -f /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
  { log "error: Debian's archive keyring is missing: apt-get install -y debian-archive-keyring"; exit 1; }

# The mirror apt uses here (deb822 .sources first, then one-line sources.list).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  mirror=$(awk -v s="$SUITE" '
    /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) found = uri }
    /^$/ { if (found) { print found; exit } } END { if (found) print found }' "$f" | head -n 1)
  [[ -n $mirror ]] && break
done
if [[ -z $mirror && -f /etc/apt/sources.list ]]; then
  mirror=$(awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }' /etc/apt/sources.list)
fi
# Elsewhere (an Ubuntu CI runner, say): debootstrap's own default Debian mirror, checked with the Debian
# archive keyring (apt-get install debian-archive-keyring).
[[ -n $mirror ]] || log "no apt source for $SUITE in /etc/apt: using debootstrap's default mirror for it"

tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
log "debootstrap $SUITE ($PACKAGES) into the cache; about a minute"
start=$SECONDS
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp/root" ${mirror:+"$mirror"} >"$tmp/log" 2>&1 ||
  { tail -n 20 "$tmp/log" >&2; log "error: debootstrap failed"; exit 1; }
rm -rf "$tmp/root/var/cache/apt/archives/"*.deb
# auditd is in the image only because the host has no network to install it from. A host the audit layer has
# not run on has no audit daemon, and inside a test host the kernel refuses audit control (its own pid
# namespace), so under systemd its units start disabled rather than failed.
if [[ -x $tmp/root/usr/bin/systemctl && -e $tmp/root/usr/lib/systemd/system/auditd.service ]]; then
  chroot "$tmp/root" systemctl disable --quiet auditd.service >>"$tmp/log" 2>&1
  [[ ! -e $tmp/root/usr/lib/systemd/system/audit-rules.service ]] || chroot "$tmp/root" systemctl disable --quiet audit-rules.service >>"$tmp/log" 2>&1
fi
touch "$tmp/root/.complete"
# Only an old-style leftover can be here without .complete: nobody can be using it.
rm -rf --one-file-system "$DIR"
mv -T "$tmp/root" "$DIR"
log "built in $((SECONDS - start))s: $DIR"
echo "$DIR"
