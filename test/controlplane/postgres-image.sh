#!/usr/bin/env bash
# Run inside the control-plane test host (postgres-image.ts): `docker import`s a small PostgreSQL image made
# of what the host's Debian postgresql package needs at run time — its binaries and libraries, the shared
# libraries `ldd` finds for them, the dynamic loader, its share files, zoneinfo, the C.UTF-8 locale and libc's
# `locale`, util-linux's setpriv (to drop to postgres), the static busybox as /bin/sh — never the whole root filesystem.
#   postgres-image.sh TAG ENTRYPOINT   tags the image TAG; ENTRYPOINT is postgres-entrypoint.sh's path here
set -euo pipefail
tag=$1 entrypoint=$2
# The image's postgres user: the official Debian-based image's ids, so a volume moved between them keeps its owner.
UID_GID=999
pg=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' | sort -V | tail -1)
[[ -x $pg/bin/postgres ]] || { echo "no PostgreSQL under /usr/lib/postgresql: the rootfs needs Debian's postgresql package" >&2; exit 1; }
version=${pg##*/}
busybox=$(command -v busybox) setpriv=$(command -v setpriv) locale=$(command -v locale)
[[ $(ldd "$busybox" 2>&1 || true) == *"not a dynamic"* ]] ||
    { echo "$busybox is not static: the image's shell needs busybox-static" >&2; exit 1; }

d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# Debian's merged /usr: /lib64/ld-linux… and /lib/… reach the files under /usr through these links.
mkdir -p "$d/usr/bin" "$d/usr/lib" "$d/usr/lib64" "$d/usr/sbin"
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$d/$l"; done

# add PATH…: copies each path at its canonical directory (a link is copied as a link, then its target too).
add() {
    local p c
    for p; do
        c="$(realpath -e "$(dirname "$p")")/$(basename "$p")"
        [[ -e $d$c || -L $d$c ]] && continue
        cp -a --parents "$c" "$d"
        if [[ -L $c ]]; then add "$(realpath -e "$c")"; fi
    done
}

# JIT (llvmjit, with LLVM behind it) is left out: postgres runs without it when it is absent.
mapfile -t elves < <(find "$pg/bin" "$pg/lib" -type f ! -name 'llvmjit*' -print)
mapfile -t modules < <(find "$pg/lib" -mindepth 1 -maxdepth 1 ! -name 'llvmjit*' ! -name bitcode -print)
# initdb asks `locale -a` for the collations it records (C, C.utf8, POSIX here).
add "$pg/bin" "${modules[@]}" "$setpriv" "$locale"
# Every shared library the binaries and modules load, and the loader named in their ELF headers.
mapfile -t libs < <(ldd "${elves[@]}" "$setpriv" "$locale" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
(( ${#libs[@]} > 0 )) || { echo "ldd found no libraries for $pg" >&2; exit 1; }
add "${libs[@]}"
add "/usr/share/postgresql/$version" /usr/share/zoneinfo
[[ -d /usr/lib/locale/C.utf8 ]] || { echo "no /usr/lib/locale/C.utf8 in the host: the image's locale comes from libc-bin" >&2; exit 1; }
add /usr/lib/locale/C.utf8
rm -rf "$d/usr/share/postgresql/$version/man"

install -m 755 "$busybox" "$d/usr/bin/busybox"
# The applets the entrypoint and a shell in the container use.
for a in sh cat chmod chown env id ls mkdir mktemp ps rm sleep; do ln -s busybox "$d/usr/bin/$a"; done
install -D -m 755 "$entrypoint" "$d/usr/local/bin/docker-entrypoint.sh"

mkdir -p "$d/etc" "$d/root" "$d/var/run/postgresql" "$d/var/lib/postgresql/data" -m 1777 "$d/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:%s:%s:PostgreSQL administrator:/var/lib/postgresql:/bin/sh\n' $UID_GID $UID_GID > "$d/etc/passwd"
printf 'root:x:0:\npostgres:x:%s:\n' $UID_GID > "$d/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$d/etc/nsswitch.conf"
chown -R $UID_GID:$UID_GID "$d/var/lib/postgresql" "$d/var/run/postgresql"
chmod 700 "$d/var/lib/postgresql/data"
chmod 2775 "$d/var/run/postgresql"

# STOPSIGNAL SIGINT, as in the official image: postgres's fast shutdown, which does not wait for clients
# (SIGTERM is its smart shutdown, which waits for the gateway's pooled connections to close).
tar --numeric-owner -C "$d" -c . | docker import \
    --change "ENV PATH=$pg/bin:/usr/local/bin:/usr/bin:/bin" \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'STOPSIGNAL SIGINT' \
    --change 'EXPOSE 5432' \
    --change 'VOLUME /var/lib/postgresql/data' \
    --change "LABEL demesne.test.postgres=$("$pg/bin/postgres" -V | awk '{ print $3 }')" \
    - "$tag" > /dev/null
du -sk "$d" | cut -f1
