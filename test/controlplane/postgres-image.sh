#!/usr/bin/env bash
# Run inside the control-plane test host (postgres-image.ts): makes a small PostgreSQL image of what the
# host's Debian postgresql package needs at run time — its binaries and modules, the shared libraries `ldd`
# finds for them, the dynamic loader, its share files, zoneinfo, the C.UTF-8 locale and libc's `locale`,
# util-linux's setpriv (to drop to postgres), the static busybox as /bin/sh — never the whole root filesystem.
#   postgres-image.sh files                     prints those paths (relative to /), one a line; ldd makes this
#                                               the slow part, so the caller caches the list per rootfs
#   postgres-image.sh import TAG ENTRYPOINT LIST   `docker import`s them straight from / with the entrypoint,
#                                               users and directories the image adds; prints the size in KiB
set -euo pipefail
pg=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' | sort -V | tail -1)
[[ -x $pg/bin/postgres ]] || { echo "no PostgreSQL under /usr/lib/postgresql: the rootfs needs Debian's postgresql package" >&2; exit 1; }
version=${pg##*/}
busybox=$(command -v busybox)
[[ $(ldd "$busybox" 2>&1 || true) == *"not a dynamic"* ]] ||
    { echo "$busybox is not static: the image's shell needs busybox-static" >&2; exit 1; }

# Each path at its canonical directory (Debian's merged /usr: /lib/… is /usr/lib/…); a link, then its target.
canonical() {
    local p c
    for p; do
        c="$(realpath -e "$(dirname "$p")")/$(basename "$p")"
        echo "${c#/}"
        if [[ -L $c ]]; then canonical "$(realpath -e "$c")"; fi
    done
}

files() {
    local setpriv locale
    setpriv=$(command -v setpriv) locale=$(command -v locale)
    [[ -d /usr/lib/locale/C.utf8 ]] || { echo "no /usr/lib/locale/C.utf8 in the host: the image's locale comes from libc-bin" >&2; exit 1; }
    # JIT (llvmjit, with all of LLVM behind it) is left out: postgres runs without it when it is absent.
    mapfile -t elves < <(find "$pg/bin" "$pg/lib" -maxdepth 1 -type f ! -name 'llvmjit*' -print)
    # Every shared library they load, and the loader named in their ELF headers; initdb asks `locale -a`
    # for the collations it records.
    mapfile -t libs < <(ldd "${elves[@]}" "$setpriv" "$locale" 2>/dev/null |
        awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
    (( ${#libs[@]} > 0 )) || { echo "ldd found no libraries for $pg" >&2; exit 1; }
    canonical "${elves[@]}" "$setpriv" "$locale" "${libs[@]}"
    # Share files without the manual pages; the zoneinfo postgres is built against; the locale.
    find "/usr/share/postgresql/$version" -path '*/man' -prune -o ! -type d -print | sed 's,^/,,'
    find /usr/share/zoneinfo /usr/lib/locale/C.utf8 ! -type d -print | sed 's,^/,,'
}

import() {
    local tag=$1 entrypoint=$2 list=$3 kib
    # The image's postgres user: the official Debian-based image's ids, so a volume moved between them keeps its owner.
    local ids=999
    d=$(mktemp -d) # global: the EXIT trap runs after this function returns
    trap 'rm -rf "$d"' EXIT
    mkdir -p "$d/usr/bin" "$d/usr/lib" "$d/usr/lib64" "$d/usr/sbin" "$d/usr/local/bin" "$d/etc" "$d/root" \
        "$d/var/run/postgresql" "$d/var/lib/postgresql/data"
    mkdir -m 1777 "$d/tmp"
    for l in bin lib lib64 sbin; do ln -s "usr/$l" "$d/$l"; done
    install -m 755 "$busybox" "$d/usr/bin/busybox"
    # The applets the entrypoint and a shell in the container use.
    for a in sh cat chmod chown env id ls mkdir mktemp ps rm sleep; do ln -s busybox "$d/usr/bin/$a"; done
    install -m 755 "$entrypoint" "$d/usr/local/bin/docker-entrypoint.sh"
    printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:%s:%s:PostgreSQL administrator:/var/lib/postgresql:/bin/sh\n' $ids $ids > "$d/etc/passwd"
    printf 'root:x:0:\npostgres:x:%s:\n' $ids > "$d/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$d/etc/nsswitch.conf"
    chown -R $ids:$ids "$d/var/lib/postgresql" "$d/var/run/postgresql"
    chmod 700 "$d/var/lib/postgresql/data"
    chmod 2775 "$d/var/run/postgresql"
    kib=$(( $(du -sk "$d" | cut -f1) + $(tr '\n' '\0' < "$list" | (cd / && du -ck --files0-from=- | tail -1 | cut -f1)) ))
    # Straight from / (no copy): the list's parent directories come from the added tree or the import itself.
    # STOPSIGNAL SIGINT, as in the official image: postgres's fast shutdown, which does not wait for clients
    # (SIGTERM is its smart shutdown, which waits for the gateway's pooled connections to close).
    tar --numeric-owner -c -C "$d" . -C / --no-recursion -T "$list" | docker import \
        --change "ENV PATH=$pg/bin:/usr/local/bin:/usr/bin:/bin" \
        --change 'ENV PGDATA=/var/lib/postgresql/data' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        --change 'STOPSIGNAL SIGINT' \
        --change 'EXPOSE 5432' \
        --change 'VOLUME /var/lib/postgresql/data' \
        --change "LABEL demesne.test.postgres=$("$pg/bin/postgres" -V | awk '{ print $3 }')" \
        - "$tag" > /dev/null
    echo "$kib"
}

case ${1:-} in
  files) files | sort -u ;;
  import) shift; import "$@" ;;
  *) echo "usage: postgres-image.sh files | import TAG ENTRYPOINT LIST" >&2; exit 2 ;;
esac
