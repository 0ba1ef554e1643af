#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: the budget database lives beside
# Dagster's own storage database on the same server (both use an alembic_version table).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE \"$BUDGET_DB\" OWNER \"$POSTGRES_USER\""
