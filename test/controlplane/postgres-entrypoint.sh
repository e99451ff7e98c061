#!/bin/sh
# Entrypoint of the PostgreSQL image built from Debian's packages (postgres-image.ts), run by the image's
# static busybox. It keeps the part of the official postgres image's contract the gateway's compose file
# relies on: POSTGRES_USER / POSTGRES_DB / POSTGRES_PASSWORD, data in $PGDATA (/var/lib/postgresql/data), initdb
# on the first start only, password (scram-sha-256) for TCP and trust on the local socket, listening on 5432
# on every address, postgres running as the postgres user. Arguments are postgres's own options.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
log() { echo "entrypoint: $*" >&2; }

if [ "$(id -u)" = 0 ]; then
    # A fresh volume or a bind mount may be root's: postgres refuses a data directory it does not own (0700).
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    # By path: busybox sh runs its own applet of the same name (which cannot change users) before PATH.
    exec /usr/bin/setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ -s "$PGDATA/PG_VERSION" ]; then
    log "data directory $PGDATA has a database: no initdb"
else
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        log "error: POSTGRES_PASSWORD is empty: no one could log in over TCP (the official image refuses this too)"
        exit 1
    fi
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    # The password reaches initdb in a file only postgres can read, never in argv.
    pw=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pw"
    pwfile=--pwfile=$pw
    [ -n "${POSTGRES_PASSWORD:-}" ] || pwfile=
    # LANG (C.UTF-8, set in the image) gives the cluster its locale, as in the official image.
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, split on purpose
    initdb -D "$PGDATA" --username="$user" $pwfile --auth-local=trust --auth-host="$auth" --encoding=UTF8 \
        ${POSTGRES_INITDB_ARGS:-} >&2
    rm -f "$pw"
    printf 'host all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        # The database is made by a server that listens on the socket only, so no client sees it half-made.
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >&2
        psql -X -q -v ON_ERROR_STOP=1 -v db="$db" -U "$user" -d postgres <<'SQL'
CREATE DATABASE :"db";
SQL
        pg_ctl -D "$PGDATA" -m fast -w stop >&2
    fi
    log "initdb done: database $db, superuser $user"
fi
exec postgres -D "$PGDATA" "$@"
