#!/bin/sh
# The postgres container's first start (deploy/compose.yaml): the owner and application roles with
# their passwords, the database owned by the owner, then deploy/postgresql-roles.sql's grants.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$EXITDESK_DB_OWNER_PASSWORD" -v app_password="$EXITDESK_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE exitdesk_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE exitdesk_app LOGIN PASSWORD :'app_password';
CREATE DATABASE exitdesk OWNER exitdesk_owner;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname exitdesk \
    -f /exitdesk/postgresql-roles.sql
