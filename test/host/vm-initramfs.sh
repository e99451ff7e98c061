#!/bin/busybox sh
# The VM's initramfs (test/host/vm.sh): load the modules that reach the root disk, mount it, switch to it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# A module for a CPU feature the emulated CPU lacks (crc32c-intel) refuses to load; its generic twin serves.
for m in /modules/*.ko; do insmod "$m" 2> /dev/null || true; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; dmesg | tail -n 20; echo o > /proc/sysrq-trigger; }
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/demesne-vm-init
