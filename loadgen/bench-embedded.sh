#!/usr/bin/env bash
# The embedded-default benchmarks of docs/BENCHMARKS.md, end to end: a scaled Telegram
# sandbox as its own process, the all-in-one backend (SQLite) pointed at it, 1,000 users
# linked, then each scenario. Prints one result line per scenario (and keeps the logs in
# $WORK). Needs the release binaries:
#   cargo build --release -p talkapp -p talkapp-loadgen -p talkapp-tg-sandbox
# Usage: [HOLD=1] [SCENARIOS="..."] [FRESH_MEDIA=1] loadgen/bench-embedded.sh [USERS] [SECONDS]
# (FRESH_MEDIA=1: a new file for every media send; see loadgen/bench-scenarios.sh.)
set -euo pipefail
source "$(dirname "$0")/bench-priority.sh"

USERS=${1:-1000}
SECONDS_PER_RUN=${2:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
WORK=${WORK:-/tmp/talkapp-bench}
SECRET=loadgen-secret-loadgen-secret-loadgen-secret
ISSUER=https://loadgen.supabase.co/auth/v1
PORT=${PORT:-8080}
# The sandbox's MTProto port (its admin port is the next one).
SANDBOX_PORT=${SANDBOX_PORT:-9443}

rm -rf "$WORK" && mkdir -p "$WORK"
ulimit -n 65536 2>/dev/null || ulimit -n 20000
pids=()
# A process stopped by `loadgen --scenario send-accept` (the sandbox) is continued first:
# a stopped process does not end on SIGTERM.
cleanup() {
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Accounts for the users plus the two named demo ones; users 2k and 2k+1 share a chat.
"$BIN/tg-sandbox" --listen "127.0.0.1:$SANDBOX_PORT" --admin "127.0.0.1:$((SANDBOX_PORT + 1))" --state "$WORK/tg.json" \
  --demo-scale "accounts=$((USERS + 2)),ring_chats=1" 2>"$WORK/tg-sandbox.log" &
pids+=($!)
# The sandbox builds its world before it listens (longer with debug binaries): linking
# must not start before it answers.
for _ in $(seq 1 240); do
  curl -fs "http://127.0.0.1:$((SANDBOX_PORT + 1))/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
SANDBOX_PID=$!
# The backend asks the sandbox's admin port at the first link: wait until it answers.
for _ in $(seq 1 120); do
  curl -s -o /dev/null "http://127.0.0.1:$((SANDBOX_PORT + 1))/" && break
  sleep 0.5
done

(
  cd "$WORK"
  TALKAPP_AUTH__EXTERNAL__HS256_SECRET=$SECRET \
  TALKAPP_AUTH__EXTERNAL__ISSUER=$ISSUER \
  TALKAPP_TELEGRAM__SANDBOX_ADDRESS="127.0.0.1:$SANDBOX_PORT" \
  TALKAPP_TELEGRAM__SANDBOX_ADMIN_URL="http://127.0.0.1:$((SANDBOX_PORT + 1))" \
  TALKAPP_RATE_LIMIT__API_PER_MINUTE=100000 \
  TALKAPP_RATE_LIMIT__TELEGRAM_LOGIN_PER_HOUR=1000000 \
  TALKAPP_RATE_LIMIT__TELEGRAM_LOGIN_BURST=100000 \
  TALKAPP_GATEWAY__MAX_CONNECTIONS_PER_CLIENT=0 \
  TALKAPP_LOG__FILTER=warn \
  TALKAPP_GATEWAY__LISTEN=127.0.0.1:$PORT \
    exec "$BIN/talkapp" >"$WORK/talkapp.log" 2>&1
) &
pids+=($!)
GATEWAY_PID=$!
WATCH=(--watch "talkapp=$GATEWAY_PID" --watch "tg-sandbox=$SANDBOX_PID")
# BARE=1: the chats and history runs also time their store calls directly (loadgen --store).
STORE_URL="sqlite://$WORK/data/talkapp.db"
# The mix: the SQLite files' size and what the in-process replay log holds, at each sample.
MIX_ARGS=${MIX_ARGS-"--data-dir $WORK/data --metric talkapp_realtime_log_events --metric talkapp_realtime_log_bytes"}

source "$ROOT/loadgen/bench-scenarios.sh"
