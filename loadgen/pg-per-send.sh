#!/usr/bin/env bash
# What one delivered text send costs PostgreSQL in split mode (docs/BENCHMARKS.md, issue 14):
# statements, transactions, rows written by table, and which service issued them, per send,
# at a low rate over a known number of sends. Debug binaries are fine for the counts.
#
# The five split-mode processes and a Telegram sandbox (ports of their own, so a run does not
# collide with bench-split.sh or the tests) on a fresh database `talkapp_pgsend` whose
# sessions log every statement (`ALTER DATABASE ... SET log_min_duration_statement = 0`: a
# per-database setting, the shared server is neither restarted nor reloaded). Each process
# connects with its own `application_name`, so each statement in the server log is named by
# the backend's pid → service. Then: link USERS accounts, wait SETTLE seconds (past the
# search index's rebuilds after linking), count an idle window of SECONDS (the background:
# relay rounds, leases, probes), then the `ws` load (every user on a socket, each sending to
# its pair's other half every INTERVAL_MS) for SECONDS, then a drain; the idle window's
# counts are subtracted from the load window's, and the result divided by the sends that
# reached `sent` in the window.
#
# `SCENARIO=ws-media` counts photo sends instead (`POST /me/send_media`: each user uploads the
# sandbox's photo once before the windows, then sends it; the upload is outside the counts).
# Usage: [BIN=target/debug] [SCENARIO=ws|ws-media] loadgen/pg-per-send.sh [USERS=40] [SECONDS=30] [INTERVAL_MS=2000]
# Needs: psql, read access to /var/log/postgresql/postgresql-15-main.log (the server's log),
# python3. Prints a report (and keeps it with the logs in $WORK).
set -euo pipefail

USERS=${1:-40}
WINDOW=${2:-30}
INTERVAL_MS=${3:-2000}
SETTLE=${SETTLE:-200}
SCENARIO=${SCENARIO:-ws}
case "$SCENARIO" in ws | ws-media) ;; *) echo "SCENARIO is ws or ws-media, not $SCENARIO" >&2; exit 2 ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}
WORK=${WORK:-/tmp/talkapp-pg-per-send}
PGLOG=${PGLOG:-/var/log/postgresql/postgresql-15-main.log}
POSTGRES=${POSTGRES:-127.0.0.1:5432}
REDIS=${REDIS:-127.0.0.1:6379}
AMQP=${AMQP:-127.0.0.1:5672}
PORT=${PORT:-18380}
GRPC_BASE=${GRPC_BASE:-50150}
SANDBOX_PORT=${SANDBOX_PORT:-9543}
DATABASE=talkapp_pgsend
PREFIX=talkapp-pgsend-$$
SECRET=loadgen-secret-loadgen-secret-loadgen-secret
ISSUER=https://loadgen.supabase.co/auth/v1

rm -rf "$WORK" && mkdir -p "$WORK/data"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

PSQL=(psql -qAt "postgres://postgres@$POSTGRES/postgres")
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE" \
  -c "ALTER DATABASE $DATABASE SET log_min_duration_statement = 0"
DB=(psql -qAt -F '|' "postgres://postgres@$POSTGRES/$DATABASE")

"$BIN/tg-sandbox" --listen "127.0.0.1:$SANDBOX_PORT" --admin "127.0.0.1:$((SANDBOX_PORT + 1))" \
  --state "$WORK/tg.json" --demo-scale "accounts=$((USERS + 2)),ring_chats=1" \
  2>"$WORK/tg-sandbox.log" &
pids+=($!)
for _ in $(seq 1 240); do
  curl -fs "http://127.0.0.1:$((SANDBOX_PORT + 1))/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done

# The four services listen on GRPC_BASE + 1 to + 4.
GRPC_PORT=$((GRPC_BASE + 1))
source "$ROOT/loadgen/split-bench-env.sh"

WATCH=()
for role in chat-service media-service search-service realtime-service gateway; do
  TALKAPP_DATABASE__URL="$DATABASE_URL?application_name=$role" \
    "$BIN/talkapp" "$role" >"$WORK/$role.log" 2>&1 &
  pids+=($!)
  WATCH+=(--watch "$role=$!")
  [ "$role" = gateway ] && GATEWAY_PID=$!
done

ready=
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && { ready=1; break; }
  sleep 1
done
[ -n "$ready" ] || { echo "the gateway never became ready; logs in $WORK" >&2; exit 1; }

LOADGEN=("$BIN/loadgen" --url "http://127.0.0.1:$PORT" --users "$USERS" --secret "$SECRET"
  --issuer "$ISSUER" --link)
"${LOADGEN[@]}" --seconds 5 --scenario chats --interval-ms 1000 >/dev/null 2>>"$WORK/loadgen.log"
echo "linked $USERS accounts; settling ${SETTLE}s"
sleep "$SETTLE"

# A snapshot: the database's counters, every table's, the backends' CPU, the log's size.
snapshot() { # name
  local name=$1
  date +%s.%N >"$WORK/$name.time"
  "${DB[@]}" -c "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,
                        tup_returned, tup_fetched
                 FROM pg_stat_database WHERE datname = current_database()" >"$WORK/$name.db"
  "${DB[@]}" -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
                        coalesce(seq_scan, 0), coalesce(idx_scan, 0)
                 FROM pg_stat_user_tables" >"$WORK/$name.tables"
  "${DB[@]}" -c "SELECT pid, application_name FROM pg_stat_activity
                 WHERE datname = current_database()" >"$WORK/$name.backends"
  local ticks=0
  while IFS='|' read -r pid _; do
    [ -r "/proc/$pid/stat" ] || continue
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done <"$WORK/$name.backends"
  echo "$ticks" >"$WORK/$name.ticks"
  stat -c %s "$PGLOG" >"$WORK/$name.logpos"
  "${DB[@]}" -c "SELECT count(*) FROM send_jobs WHERE status IN ('sent', 'read')" >"$WORK/$name.sent"
  # Counters reach pg_stat_* at the end of each transaction, up to 1 s late (stats_fetch).
}

# The load generator sets up first (its account checks; ws-media: each user's upload) and
# holds until the hold file is removed, so that neither window counts the setup.
HOLD_FILE=$WORK/hold
rm -f "$HOLD_FILE"
"${LOADGEN[@]}" --seconds "$WINDOW" --warmup-seconds 0 --scenario "$SCENARIO" \
  --interval-ms "$INTERVAL_MS" "${WATCH[@]}" --watch "postgres=comm:postgres" \
  --hold-file "$HOLD_FILE" 2>>"$WORK/loadgen.log" >"$WORK/loadgen.out" &
LOADGEN_PID=$!
for _ in $(seq 1 600); do
  [ -e "$HOLD_FILE" ] && break
  kill -0 "$LOADGEN_PID" 2>/dev/null || { echo "the load generator ended in its setup; see $WORK/loadgen.log" >&2; exit 1; }
  sleep 0.5
done
[ -e "$HOLD_FILE" ] || { echo "the load generator's setup took over 300 s" >&2; exit 1; }
"${DB[@]}" -c "SELECT pg_stat_clear_snapshot()" >/dev/null
sleep 2
snapshot idle0
sleep "$WINDOW"
snapshot idle1
rm -f "$HOLD_FILE"
wait "$LOADGEN_PID"
tail -n 6 "$WORK/loadgen.out"
# Everything accepted in the window is sent and told (and indexed) before the window ends.
sleep 8
snapshot load1
python3 "$ROOT/loadgen/pg-per-send.py" "$WORK" "$PGLOG" "$DATABASE" | tee "$WORK/report.txt"
