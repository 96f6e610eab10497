# The part of loadgen/bench-embedded.sh and loadgen/bench-split.sh after the backend is
# started (sourced by both): wait for the gateway, link the users, then each scenario.
# Needs BIN, WORK, PORT, USERS, SECONDS_PER_RUN, SECRET, ISSUER and GATEWAY_PID, and
# WATCH: the `--watch name=...` arguments of the processes whose CPU per request is
# reported (the TalkApp processes, the sandbox, and the servers the mode uses).

ready=
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && { ready=1; break; }
  sleep 1
done
[ -n "$ready" ] || { echo "the gateway never became ready; logs in $WORK" >&2; exit 1; }

run() { # scenario, extra loadgen arguments...
  local scenario=$1
  shift
  # The name SCENARIOS knows it by (`ws-fanout` is the `ws` scenario with more sockets).
  local name=$scenario
  if [ "$scenario" = as ]; then
    name=$1
    scenario=$2
    shift 2
  fi
  # SCENARIOS="send-media ws-media" runs only those (the linking run always runs).
  if [ -n "${SCENARIOS:-}" ] && [[ " $SCENARIOS " != *" $name "* ]]; then
    return 0
  fi
  local perf_pid=
  if [ -n "${PROFILE:-}" ] && [ "$scenario" = send-accept ]; then
    # send-accept: the profile covers its measured windows only (loadgen enables and
    # disables perf through a FIFO), not the drains between them.
    rm -f "$WORK/perf-ctl" && mkfifo "$WORK/perf-ctl"
    perf record -D -1 --control "fifo:$WORK/perf-ctl" -F 999 -g -p "${PROFILE_PID:-$GATEWAY_PID}" \
      -o "$WORK/perf-$name.data" >/dev/null 2>&1 &
    perf_pid=$!
    set -- "$@" --perf-control "$WORK/perf-ctl"
  elif [ -n "${PROFILE:-}" ]; then
    # PROFILE=1: a perf profile of the gateway process (all of TalkApp in the embedded
    # default; in split mode PROFILE_ROLE=chat-service profiles that process instead) over
    # the middle of the run, in $WORK/perf-<scenario>.data; read it with
    # `perf report -i ... --no-children`. It costs CPU: not for the figures' runs.
    (sleep $((SECONDS_PER_RUN / 3)) &&
      exec perf record -F 999 -g -p "${PROFILE_PID:-$GATEWAY_PID}" -o "$WORK/perf-$name.data" \
        -- sleep $((SECONDS_PER_RUN / 2))) >/dev/null 2>&1 &
    perf_pid=$!
  fi
  "$BIN/loadgen" --url "http://127.0.0.1:$PORT" --users "$USERS" --seconds "$SECONDS_PER_RUN" \
    --scenario "$scenario" --secret "$SECRET" --issuer "$ISSUER" --link "${WATCH[@]}" "$@" \
    2>>"$WORK/loadgen.log" | tail -n "${TAIL_LINES:-4}"
  if [ -n "$perf_pid" ]; then
    [ "$scenario" = send-accept ] && kill -INT "$perf_pid" 2>/dev/null
    wait "$perf_pid" || true
    echo "profile: perf report -i $WORK/perf-$name.data --no-children"
  fi
}

# FRESH_MEDIA=1: every media send (send-media, ws-media, send-video, ws-video) carries a
# new file, uploaded before the sends at their pace (its own lines: upload latency, how
# many got a preview, CPU per upload with ffmpeg as `talkapp.children`), so that each send
# is a first send of a file (its own Telegram upload, a video's thumbnail with it).
# FRESH_UPLOAD_INTERVAL_MS: each user's interval between those uploads (by default that of
# its sends), so that the uploads' previews (ffmpeg) need not keep up with the sends' rate.
FRESH=${FRESH_MEDIA:+--fresh-media}
if [ -n "$FRESH" ] && [ -n "${FRESH_UPLOAD_INTERVAL_MS:-}" ]; then
  FRESH="$FRESH --upload-interval-ms $FRESH_UPLOAD_INTERVAL_MS"
fi
# Each user's interval between media sends: USERS × 10 ms, 100 sends/s in all, unless
# MEDIA_INTERVAL_MS says otherwise (a check at a tiny load with debug binaries).
MEDIA_INTERVAL_MS=${MEDIA_INTERVAL_MS:-$((USERS * 10))}

start=$(date +%s)
SCENARIOS= run chats --interval-ms 1000 >/dev/null
echo "linked $USERS accounts in $(( $(date +%s) - start )) s"
if [ -n "${HOLD:-}" ]; then
  # For measuring by hand: the backend stays up (gateway pid $GATEWAY_PID) until killed.
  echo "holding; loadgen --url http://127.0.0.1:$PORT --secret $SECRET --issuer $ISSUER --link ..."
  wait
fi
if [ -n "${SETTLE:-}" ]; then
  # SETTLE=200: wait past search-service's rebuilds of newly linked accounts (30 s and
  # 3 min after linking) so that they are not part of the figures.
  sleep "$SETTLE"
fi
# A PostgreSQL with autovacuum off (as this project's CI and benchmark machines have it)
# never gathers the planner's statistics of the tables the linking just filled: every read
# is then planned as for empty tables (the chat list's newest messages found by filtering
# all of the account's messages, not by their key). A production server's autovacuum
# analyzes them within a minute or two, so the figures are taken in that state: ANALYZE
# once here, as autovacuum would (ANALYZE_URL: set by bench-split.sh; NO_ANALYZE=1 skips
# it, to compare with entries before 2026-12-07 22:40, which ran without it).
if [ -n "${ANALYZE_URL:-}" ] && [ -z "${NO_ANALYZE:-}" ] &&
  [ "$(psql -Atq -c 'SHOW autovacuum' "$ANALYZE_URL")" = off ]; then
  psql -q -c ANALYZE "$ANALYZE_URL" &&
    echo "autovacuum is off on this server: ANALYZE run once after linking, as autovacuum would"
fi
run me --interval-ms 500
run sessions --interval-ms 500
run telegrams --interval-ms 500
# Linking with 2FA: each of USERS users links the sandbox's demo 2FA account (+9996620002)
# once every LINK_INTERVAL_MS (5000), as a new TalkApp user each time, through the
# TorexTalkWeb routes (`link-2fa`) or the native ones (`link-2fa-native`); each step's
# p50/p99, a probe of GET /me/sessions every 20 ms beside the links, and the CPU per link.
# Only when asked for: SCENARIOS="link-2fa link-2fa-native".
if [[ " ${SCENARIOS:-} " == *" link-2fa "* ]]; then
  TAIL_LINES=3 run link-2fa --interval-ms "${LINK_INTERVAL_MS:-5000}"
fi
if [[ " ${SCENARIOS:-} " == *" link-2fa-native "* ]]; then
  TAIL_LINES=3 run as link-2fa-native link-2fa --interval-ms "${LINK_INTERVAL_MS:-5000}" --native-link
fi
# READ_INTERVAL_MS=2000 with 5,000 users: issue 14's "5,000 users x 1 read / 2 s".
# BARE=1: beside the requests, the load generator times the same store calls directly
# against the backend's database ($STORE_URL, set by the calling script), 100 a second one
# at a time, and prints their p50 and the request's p50 over it (issue 14: within 3x). Off
# by default: those reads add to the load generator's CPU and to the database's.
BARE_ARGS=()
if [ -n "${BARE:-}" ]; then BARE_ARGS=(--store "$STORE_URL"); fi
TAIL_LINES=${BARE:+5} run chats --interval-ms "${READ_INTERVAL_MS:-500}" "${BARE_ARGS[@]}"
TAIL_LINES=${BARE:+5} run history --interval-ms "${READ_INTERVAL_MS:-500}" "${BARE_ARGS[@]}"
# Message search, each request also asking Telegram (the sandbox) through the account's host.
run search --interval-ms 5000
run search-local --interval-ms 5000
run send --interval-ms 5000
# The 202 alone (issue 14's "the send's 202 <= 400 us"): the same sends, in rounds of 2 s
# with the sandbox stopped (SIGSTOP) so that the jobs wait, then continued and each job
# followed until sent; fails if any accepted send is lost or doubled (loadgen's accept.rs).
if [ -n "${SANDBOX_PID:-}" ]; then
  run send-accept --interval-ms 2000 --hold-pid "$SANDBOX_PID"
fi
# Media: 100 photo sends/s in all (each user one every USERS × 10 ms), the 202; then the
# time from a photo send's 202 to the peer's message.new.
run send-media --interval-ms "$MEDIA_INTERVAL_MS" $FRESH
run ws --interval-ms 5000
if [ -n "${RELAY_PORT:-}" ]; then
  # The same load with the sockets on the Node relay (bench-split.sh's RELAY=1).
  run ws --interval-ms 5000 --ws-url "http://127.0.0.1:$RELAY_PORT"
fi
# Fan-out: FANOUT sockets per user (10 by default), one send per user every 20 s: each
# message goes to FANOUT sockets, so the socket side dominates. Only when asked for:
# SCENARIOS="ws-fanout" (with RELAY=1 in split mode, also on the Node relay).
if [[ " ${SCENARIOS:-} " == *" ws-fanout "* ]]; then
  run as ws-fanout ws --interval-ms 20000 --connections-per-user "${FANOUT:-10}"
  if [ -n "${RELAY_PORT:-}" ]; then
    run as ws-fanout ws --interval-ms 20000 --connections-per-user "${FANOUT:-10}" \
      --ws-url "http://127.0.0.1:$RELAY_PORT"
  fi
fi
# A ramp of the fan-out load (loadgen/bench-fanout-ramp.sh runs it and sums it up): the
# ws-fanout load, FANOUT sockets per user, at each interval of RAMP_INTERVALS_MS (one send
# per user per interval, so the rate rises step by step), each step on the gateway's
# sockets and then, with RELAY_PORT, on the relay's (alternately, so that both see the
# machine as it is at that step). Only when asked for: SCENARIOS="ws-ramp". A step that
# fails (the load generator gives up, e.g. no socket opens) is said so and the ramp
# goes on.
if [[ " ${SCENARIOS:-} " == *" ws-ramp "* ]]; then
  for interval in ${RAMP_INTERVALS_MS:-20000 10000 6667 5000 4000}; do
    run as ws-ramp ws --interval-ms "$interval" --connections-per-user "${FANOUT:-10}" ||
      echo "ramp step failed: users=$USERS sockets_on=http://127.0.0.1:$PORT interval_ms=$interval"
    if [ -n "${RELAY_PORT:-}" ]; then
      run as ws-ramp ws --interval-ms "$interval" --connections-per-user "${FANOUT:-10}" \
        --ws-url "http://127.0.0.1:$RELAY_PORT" ||
        echo "ramp step failed: users=$USERS sockets_on=http://127.0.0.1:$RELAY_PORT interval_ms=$interval"
    fi
  done
fi
run ws-media --interval-ms "$MEDIA_INTERVAL_MS" $FRESH
# What a video's thumbnail adds: the same two runs with a 2 s MP4 (its upload preview goes
# to Telegram as one more part). Only when asked for: SCENARIOS="send-video ws-video";
# run them again with TALKAPP_MEDIA__FFMPEG_PATH=off for the same video with no thumbnail.
# A repeated send of a file goes to Telegram by reference, its thumbnail with it: with
# FRESH_MEDIA=1 each send is a new file, so the thumbnail's upload is in every send.
if [[ " ${SCENARIOS:-} " == *" send-video "* ]]; then
  run as send-video send-media --interval-ms "$MEDIA_INTERVAL_MS" --media video $FRESH
fi
if [[ " ${SCENARIOS:-} " == *" ws-video "* ]]; then
  run as ws-video ws-media --interval-ms "$MEDIA_INTERVAL_MS" --media video $FRESH
fi
run ws-idle --connections-per-user 10 --pid "$GATEWAY_PID"
# A load that looks like real use, held for MIX_SECONDS (600 by default): every user on a
# socket, 20 % reading every 2 s, 5 % sending every 10 s; a line of figures (and each
# process's memory, split into anonymous, file-backed and shared, and CPU) every 30 s.
# Only when asked for: SCENARIOS="mix". MIX_READERS_PERCENT and MIX_SENDERS_PERCENT
# change the shares (MIX_SENDERS_PERCENT=0: reads only, to tell what the sends add).
# MIX_ARGS: more loadgen arguments (bench-embedded.sh adds the data directory's size and
# the in-process replay log's gauges, `--data-dir` and `--metric`).
if [[ " ${SCENARIOS:-} " == *" mix "* ]]; then
  # shellcheck disable=SC2086 # MIX_ARGS is a list of words
  TAIL_LINES=200 SECONDS_PER_RUN=${MIX_SECONDS:-600} run mix --interval-ms 2000 \
    --readers-percent "${MIX_READERS_PERCENT:-20}" --senders-percent "${MIX_SENDERS_PERCENT:-5}" \
    --send-interval-ms 10000 --sample-seconds "${MIX_SAMPLE_SECONDS:-30}" ${MIX_ARGS:-}
fi
