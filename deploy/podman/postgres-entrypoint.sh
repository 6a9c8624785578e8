#!/bin/bash
# The entrypoint of the postgres:15 image that scripts/compose-up.sh builds from Debian's
# postgresql-15 package: what deploy/docker-compose.yml relies on of the official image's —
# a data directory at $PGDATA made on the first start with the superuser postgres and
# POSTGRES_PASSWORD, the files in /docker-entrypoint-initdb.d run then by a server that
# listens on its Unix socket only (so that pg_isready over TCP passes only once they ran),
# and the server then listening on every address with password authentication.
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
data="${PGDATA:-/var/lib/postgresql/data}"
as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)

mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
chmod 0700 "$data"

if [ ! -s "$data/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}" > "$pwfile"
  chown postgres "$pwfile"
  "${as_postgres[@]}" "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
  "${as_postgres[@]}" "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=''" -w start
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) "${as_postgres[@]}" psql -v ON_ERROR_STOP=1 -U postgres -d postgres -q -f "$f" ;;
      *.sh) bash "$f" ;;
    esac
  done
  "${as_postgres[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop
fi

exec "${as_postgres[@]}" "$bin/postgres" -D "$data" -c listen_addresses='*'
