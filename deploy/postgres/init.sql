-- One database and one role per EventPost service, as `eventpost launch` makes them
-- (internal/app/launch.go): database eventpost_<service>, owned by the role of the same name
-- and closed to every other role — each service reads only its own database.
--
-- Run by psql as a superuser (or a role with CREATEROLE and CREATEDB):
--   * by the postgres image on its first start (docker-compose.yml mounts this file into
--     /docker-entrypoint-initdb.d), with the development passwords below;
--   * by the postgres-init Job (k8s/postgres-init.yaml, from the byte-identical copy
--     k8s/postgres-init.sql), with the passwords given as psql variables:
--       psql "$ADMIN_URL" -v auth_password=… -v events_password=… \
--            -v notifications_password=… -v mailer_password=… -f init.sql
-- It can run any number of times: it creates what is missing and (re)sets the passwords.

\set ON_ERROR_STOP on

-- Development defaults, used when a password is not given (docker-compose.yml's URLs).
\if :{?auth_password}
\else
\set auth_password 'auth-dev-password'
\endif
\if :{?events_password}
\else
\set events_password 'events-dev-password'
\endif
\if :{?notifications_password}
\else
\set notifications_password 'notifications-dev-password'
\endif
\if :{?mailer_password}
\else
\set mailer_password 'mailer-dev-password'
\endif

SELECT format('CREATE ROLE %I LOGIN', r)
FROM unnest(ARRAY['eventpost_auth', 'eventpost_events', 'eventpost_notifications', 'eventpost_mailer']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r)
\gexec

ALTER ROLE eventpost_auth LOGIN PASSWORD :'auth_password';
ALTER ROLE eventpost_events LOGIN PASSWORD :'events_password';
ALTER ROLE eventpost_notifications LOGIN PASSWORD :'notifications_password';
ALTER ROLE eventpost_mailer LOGIN PASSWORD :'mailer_password';

-- CREATE DATABASE cannot run inside a function or transaction, hence \gexec.
SELECT format('CREATE DATABASE %I OWNER %I', d, d)
FROM unnest(ARRAY['eventpost_auth', 'eventpost_events', 'eventpost_notifications', 'eventpost_mailer']) AS d
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d)
\gexec

REVOKE ALL ON DATABASE eventpost_auth FROM PUBLIC;
REVOKE ALL ON DATABASE eventpost_events FROM PUBLIC;
REVOKE ALL ON DATABASE eventpost_notifications FROM PUBLIC;
REVOKE ALL ON DATABASE eventpost_mailer FROM PUBLIC;
