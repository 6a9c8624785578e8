#!/bin/bash
# The entrypoint of the rabbitmq:3.13-management image that scripts/compose-up.sh builds from
# Debian's rabbitmq-server package: what deploy/docker-compose.yml relies on of the official
# image's — the default user from RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS (allowed to
# connect from other hosts), the management plugin on 15672, and the log on the console.
set -euo pipefail

cat > /etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
loopback_users = none
log.console = true
log.file = false
CONF
echo '[rabbitmq_management].' > /etc/rabbitmq/enabled_plugins
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq

export HOME=/var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
