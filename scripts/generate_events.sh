#!/usr/bin/env bash
# Generates one of each kind of event pgep forwards, against the database in $PGEP_PG_URI (or
# psql's usual PG* variables): plain NOTIFY, durable messages (events.send_message), and row
# changes for the WAL (table demo.users). The seed's generate_events.sh, for pgep's demo.
#   scripts/generate_events.sh [COUNT]     COUNT rounds, one a second (default 3)
set -euo pipefail
count=${1:-3}
psql=(psql -X -q -v ON_ERROR_STOP=1 ${PGEP_PG_URI:+"$PGEP_PG_URI"})
"${psql[@]}" -c "CREATE SCHEMA IF NOT EXISTS demo;
  CREATE TABLE IF NOT EXISTS demo.users (id serial PRIMARY KEY, name text NOT NULL, created timestamptz DEFAULT now())"
for i in $(seq 1 "$count"); do
  "${psql[@]}" <<SQL
NOTIFY events, 'signup|plain notification $i';
SELECT events.send_message('events', 'durable message $i', 'billing.invoice', true);
INSERT INTO demo.users (name) VALUES ('user $i');
UPDATE demo.users SET name = name || ' (renamed)' WHERE name = 'user $i';
SQL
  echo "generate_events: round $i sent (NOTIFY, durable message, row insert and update)"
  [[ $i -eq $count ]] || sleep 1
done
