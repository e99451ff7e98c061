#!/bin/bash
# The VM's init (test/host/vm.sh): no systemd, no udev. Mounts what a job needs, unpacks the job disk, runs
# its run.sh as root, writes /run/out (run.sh's output and exit code) as a tar onto the output disk and
# powers off at once. The serial console shows the job's output as it runs.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /dev/pts /dev/shm /run/job /run/out
mount -t devpts devpts /dev/pts
mount -o remount,rw /
ln -sf /proc/self/fd /dev/fd
hostname demesne-vm
# The job and output disks carry serials (the data disks come first, from /dev/vdb on).
disk() { local s; for s in /sys/block/vd*/serial; do [ "$(cat "$s")" = "$1" ] && { echo "/dev/$(basename "$(dirname "$s")")"; return; }; done; }
job=$(disk demesne-job) out=$(disk demesne-out)
if [ -n "$job" ] && [ -n "$out" ]; then
  tar -xf "$job" -C /run/job
  start=$(cut -d' ' -f1 /proc/uptime)
  echo "[vm] job starts at ${start}s after boot"
  (cd /run/job && bash ./run.sh) > >(tee /run/out/output) 2>&1
  echo $? > /run/out/exit
  cut -d' ' -f1 /proc/uptime > /run/out/uptime
  echo "$start" > /run/out/job-start
  sleep 0.2
  tar -cf "$out" -C /run/out .
else
  echo "[vm] no job or output disk"
fi
sync
echo o > /proc/sysrq-trigger
sleep 5
