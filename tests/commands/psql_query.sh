#!/bin/sh
# A team's shell check with the PostgreSQL client: psql finds the database in PGHOST, PGPORT,
# PGDATABASE, PGUSER and PGPASSWORD (and PGOPTIONS), nothing on its command line.
# usage: psql_query.sh SQL
set -eu
psql -X -v ON_ERROR_STOP=1 -At -c "$1"
