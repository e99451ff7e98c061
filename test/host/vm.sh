#!/usr/bin/env bash
# A throwaway virtual machine with Debian's own kernel, for what a namespace test host cannot do: the
# machine's kernel may lack device-mapper (dm-crypt, LUKS), a VM's kernel has it. qemu (TCG: no KVM needed)
# boots Debian bookworm's linux-image-amd64 with a small busybox initramfs that loads the virtio and ext4
# modules and switches to a root image made from the cached test-host rootfs (test/host/rootfs.sh) with
# `mke2fs -d` (nothing is mounted on the machine). The guest runs one job and powers off:
#   test/host/vm.sh image      build if missing (progress on stderr), print the image directory
#   test/host/vm.sh run IMAGE ROOT JOB OUT TIMEOUT DISK...
#       ROOT: the guest's root disk (a qcow2 over IMAGE/root.img, so a "reboot" keeps what the job wrote);
#       JOB: a tar with run.sh, which the guest runs as root in its /run/job; OUT: a raw file the guest
#       writes a tar of its /run/out to (run.sh's output, its exit code); DISK...: raw files, /dev/vdb on.
#       The serial console (the kernel's and run.sh's output) goes to stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${DEMESNE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/demesne}/vm
# Bumped whenever the image's recipe below changes, so that a cached image is rebuilt.
IMAGE_REVISION=2
log() { printf '[vm] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
need() { command -v "$1" > /dev/null || die "$1 is missing: apt-get install -y $2"; }

# Modules the initramfs loads (with what they depend on) to reach the root disk, and those the guest's
# root keeps for modprobe: device-mapper, dm-crypt and the ciphers LUKS2 uses.
BOOT_MODULES="virtio_pci virtio_blk ext4"
GUEST_MODULE_DIRS="kernel/crypto kernel/arch/x86/crypto kernel/lib kernel/fs kernel/drivers/md kernel/drivers/block kernel/drivers/virtio kernel/drivers/char"

image() {
  need qemu-system-x86_64 qemu-system-x86
  need qemu-img qemu-utils
  need mke2fs e2fsprogs
  need dpkg-deb dpkg
  need apt-get apt
  local rootfs pkg version key dir
  rootfs=$(bash "$HERE/rootfs.sh")
  # The kernel Debian's linux-image-amd64 points at, from the Debian archive apt already uses.
  pkg=$(apt-cache depends linux-image-amd64 2> /dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  [[ -n $pkg ]] || die "no Debian kernel package: apt cannot resolve linux-image-amd64 (add a Debian bookworm source to /etc/apt and apt-get update)"
  version=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2 }')
  key=$(printf '%s %s %s %s' "$pkg" "$version" "$(basename "$rootfs")" "$IMAGE_REVISION" |
    cat - "$HERE/vm-init.sh" "$HERE/vm-initramfs.sh" | sha256sum | cut -c1-12)
  dir=$CACHE/$key
  mkdir -p "$CACHE"
  exec 8> "$CACHE/.lock"
  flock -n 8 || { log "another run is building the VM image; waiting for it"; flock 8; }
  if [[ -f $dir/.complete ]]; then echo "$dir"; return; fi
  for old in "$CACHE"/.build-*; do [[ ! -d $old ]] || rm -rf --one-file-system "$old"; done
  local start=$SECONDS
  tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
  trap 'rm -rf --one-file-system "${tmp:-}"' EXIT
  log "building the VM image ($pkg $version, root from $rootfs); about a minute"
  mkdir -p "$CACHE/debs"
  (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" busybox-static > "$tmp/apt.log" 2>&1) ||
    { cat "$tmp/apt.log" >&2; die "apt-get download $pkg busybox-static failed (the Debian archive must be reachable)"; }
  local busybox=("$CACHE/debs/busybox-static_"*.deb)
  dpkg-deb -x "$CACHE/debs/${pkg}_${version}_amd64.deb" "$tmp/kernel"
  dpkg-deb -x "${busybox[0]}" "$tmp/busybox"
  local kver=${pkg#linux-image-}
  local mods=$tmp/kernel/lib/modules/$kver
  [[ -d $mods ]] || die "$pkg has no /lib/modules/$kver"

  # The guest's root: the test host's rootfs, a subset of the kernel's modules, the init that runs the job.
  cp -a "$rootfs" "$tmp/root"
  mkdir -p "$tmp/root/lib/modules/$kver"
  cp "$mods"/modules.* "$tmp/root/lib/modules/$kver/" 2> /dev/null || true
  for d in $GUEST_MODULE_DIRS; do
    [[ -d $mods/$d ]] || continue
    mkdir -p "$tmp/root/lib/modules/$kver/$(dirname "$d")"
    cp -a "$mods/$d" "$tmp/root/lib/modules/$kver/$d"
  done
  chroot "$tmp/root" depmod "$kver"
  install -m 0755 "$HERE/vm-init.sh" "$tmp/root/sbin/demesne-vm-init"
  rm -f "$tmp/root/.complete"

  # The initramfs: busybox, the boot modules in load order, an init that mounts the root and switches to it.
  mkdir -p "$tmp/initramfs/bin" "$tmp/initramfs/modules" "$tmp/initramfs/dev" "$tmp/initramfs/proc" "$tmp/initramfs/sys" "$tmp/initramfs/newroot"
  cp "$tmp/busybox/bin/busybox" "$tmp/initramfs/bin/busybox"
  install -m 0755 "$HERE/vm-initramfs.sh" "$tmp/initramfs/init"
  local m path n=0
  for m in $BOOT_MODULES; do
    chroot "$tmp/root" modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
  done | awk '!seen[$0]++' | while read -r path; do
    n=$((n + 1))
    cp "$tmp/root$path" "$tmp/initramfs/modules/$(printf '%02d' "$n")-$(basename "$path")"
  done
  (cd "$tmp/initramfs" && find . | "$tmp/busybox/bin/busybox" cpio -o -H newc 2> /dev/null) | gzip -1 > "$tmp/initrd.img"

  mke2fs -q -t ext4 -L demesne-vm -d "$tmp/root" "$tmp/root.img" 2G > /dev/null
  cp "$tmp/kernel/boot/vmlinuz-$kver" "$tmp/vmlinuz"
  mkdir -p "$dir.new"
  mv "$tmp/root.img" "$tmp/initrd.img" "$tmp/vmlinuz" "$dir.new/"
  touch "$dir.new/.complete"
  rm -rf "$dir"
  mv -T "$dir.new" "$dir"
  log "built in $((SECONDS - start))s: $dir"
  echo "$dir"
}

run() {
  [[ $# -ge 5 ]] || die "usage: vm.sh run IMAGE ROOT JOB OUT TIMEOUT DISK..."
  need qemu-system-x86_64 qemu-system-x86
  local image=$1 root=$2 job=$3 out=$4 timeout=$5
  shift 5
  # Fixed PCI slots fix the names: the root is /dev/vda, the data disks /dev/vdb on, then the job and output
  # disks, which the guest finds by serial.
  local args=() disk slot=17
  for disk in "$@"; do
    args+=(-drive "file=$disk,if=none,id=d$slot,format=raw,cache=unsafe" -device "virtio-blk-pci,drive=d$slot,addr=$(printf 0x%x "$slot")")
    slot=$((slot + 1))
  done
  # TCG on one core: the machine is shared.
  exec timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -accel tcg -smp 1 -m 1024 \
    -nographic -no-reboot -nodefaults -serial stdio -monitor none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 rootwait" \
    -drive "file=$root,if=none,id=root,format=qcow2,cache=unsafe" -device virtio-blk-pci,drive=root,addr=0x10 \
    "${args[@]}" \
    -drive "file=$job,if=none,id=job,format=raw,readonly=on" -device virtio-blk-pci,drive=job,serial=demesne-job,addr=0x1d \
    -drive "file=$out,if=none,id=out,format=raw" -device virtio-blk-pci,drive=out,serial=demesne-out,addr=0x1e
}

case ${1:-} in
  image) image ;;
  run) shift; run "$@" ;;
  *) die "usage: vm.sh image | vm.sh run IMAGE ROOT JOB OUT TIMEOUT DISK..." ;;
esac
