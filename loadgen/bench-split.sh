#!/usr/bin/env bash
# The split-mode benchmarks of docs/BENCHMARKS.md, end to end: a scaled Telegram sandbox as
# its own process, then the five processes of a split deployment (`talkapp gateway`,
# `chat-service`, `media-service`, `search-service`, `realtime-service`) on the local
# PostgreSQL, Redis and RabbitMQ (a fresh database $DATABASE, `talkapp_bench`, its own queue and key
# prefixes), 1,000 users linked, then each scenario. Prints one result line per scenario
# (and keeps the logs in $WORK). Needs the release binaries:
#   cargo build --release -p talkapp -p talkapp-loadgen -p talkapp-tg-sandbox
# Usage: [HOLD=1] [PROFILE=1 [PROFILE_ROLE=chat-service]] loadgen/bench-split.sh [USERS] [SECONDS]
# Servers: POSTGRES (127.0.0.1:5432, user postgres, trust), REDIS (127.0.0.1:6379),
# AMQP (127.0.0.1:5672, guest/guest); override with the variables of those names. The
# gateway listens on 127.0.0.1:$PORT (8080), the sandbox on $SANDBOX_PORT and the next port
# (9443), the services' gRPC on $GRPC_PORT and the next three (50051).
set -euo pipefail
source "$(dirname "$0")/bench-priority.sh"

USERS=${1:-1000}
SECONDS_PER_RUN=${2:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
WORK=${WORK:-/tmp/talkapp-bench-split}
POSTGRES=${POSTGRES:-127.0.0.1:5432}
REDIS=${REDIS:-127.0.0.1:6379}
AMQP=${AMQP:-127.0.0.1:5672}
PORT=${PORT:-8080}
DATABASE=${DATABASE:-talkapp_bench}
PREFIX=talkapp-bench-$$
SECRET=loadgen-secret-loadgen-secret-loadgen-secret
ISSUER=https://loadgen.supabase.co/auth/v1

# The ports this run takes must be free (an earlier run may still be draining).
GRPC_PORT=${GRPC_PORT:-50051}
# The sandbox's MTProto port; its admin API takes the next one.
SANDBOX_PORT=${SANDBOX_PORT:-9443}
for port in "$PORT" "$GRPC_PORT" $((GRPC_PORT + 1)) $((GRPC_PORT + 2)) $((GRPC_PORT + 3)) \
  "$SANDBOX_PORT" $((SANDBOX_PORT + 1)); do
  for _ in $(seq 1 30); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || continue 2
    sleep 1
  done
  echo "127.0.0.1:$port is taken (an earlier run still going?)" >&2
  exit 1
done
rm -rf "$WORK" && mkdir -p "$WORK/data"
ulimit -n 65536 2>/dev/null || ulimit -n 20000
pids=()
ROLE_PIDS=()
# A process stopped by `loadgen --scenario send-accept` (the sandbox) is continued first:
# a stopped process does not end on SIGTERM.
cleanup() {
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

psql -q "postgres://postgres@$POSTGRES/postgres" \
  -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE"

# Accounts for the users plus the two named demo ones; users 2k and 2k+1 share a chat.
"$BIN/tg-sandbox" --listen "127.0.0.1:$SANDBOX_PORT" --admin "127.0.0.1:$((SANDBOX_PORT + 1))" --state "$WORK/tg.json" \
  --demo-scale "accounts=$((USERS + 2)),ring_chats=1" 2>"$WORK/tg-sandbox.log" &
pids+=($!)
SANDBOX_PID=$!
# The sandbox builds its world before it listens (longer with debug binaries): linking
# must not start before it answers.
for _ in $(seq 1 240); do
  curl -fs "http://127.0.0.1:$((SANDBOX_PORT + 1))/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
WATCH=(--watch "tg-sandbox=$SANDBOX_PID")

source "$ROOT/loadgen/split-bench-env.sh"

# CHAT_SERVICE_ENV="NAME=value ...": more environment for the chat-service process only
# (e.g. TOKIO_WORKER_THREADS=1, to compare its runtime's sizes on the same binaries).
for role in chat-service media-service search-service realtime-service gateway; do
  role_env=()
  # shellcheck disable=SC2206 # a list of NAME=value words
  [ "$role" = chat-service ] && role_env=(${CHAT_SERVICE_ENV:-})
  env "${role_env[@]}" "$BIN/talkapp" "$role" >"$WORK/$role.log" 2>&1 &
  pids+=($!)
  WATCH+=(--watch "$role=$!")
  ROLE_PIDS+=("$role=$!")
  [ "$role" = gateway ] && GATEWAY_PID=$!
  # PROFILE=1 PROFILE_ROLE=chat-service: the profile is of that process (the gateway's by
  # default).
  [ "$role" = "${PROFILE_ROLE:-gateway}" ] && PROFILE_PID=$!
done
# The servers, reported apart from TalkApp's own processes.
WATCH+=(--watch "postgres=comm:postgres" --watch "redis=comm:redis-server" \
  --watch "rabbitmq=comm:beam.smp")

# RELAY=1: the baseline of issue 14 too, a Node relay from RabbitMQ to WebSockets
# (loadgen/baselines/node-relay, `npm ci` there first): the `ws` scenario runs again with
# its sockets on the relay, and the relay's CPU is reported beside the TalkApp processes'.
if [ -n "${RELAY:-}" ]; then
  RELAY_PORT=${RELAY_PORT:-8099}
  AMQP_URL=$AMQP_URL AMQP_PREFIX=$PREFIX PORT=$RELAY_PORT SECRET=$SECRET ISSUER=$ISSUER \
    node "$ROOT/loadgen/baselines/node-relay/relay.js" 2>"$WORK/node-relay.log" &
  pids+=($!)
  WATCH+=(--watch "node-relay=$!")
fi

# BARE=1: the chats and history runs also time their store calls directly (loadgen --store).
STORE_URL=$DATABASE_URL
ANALYZE_URL=$DATABASE_URL
source "$ROOT/loadgen/bench-scenarios.sh"

# Each TalkApp process's memory once the scenarios are done: resident now and at its peak.
for entry in "${ROLE_PIDS[@]}"; do
  awk -v role="${entry%%=*}" '/^VmRSS/ {rss = $2} /^VmHWM/ {hwm = $2}
    END {printf "memory %s: rss=%.1fMiB peak=%.1fMiB\n", role, rss / 1024, hwm / 1024}' \
    "/proc/${entry#*=}/status" 2>/dev/null || echo "memory ${entry%%=*}: process gone"
done
