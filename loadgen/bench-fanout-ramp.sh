#!/usr/bin/env bash
# Issue 14's comparison of fan-out throughput at equal p99: the fan-out load (USERS users,
# FANOUT sockets each, every message to all FANOUT sockets of its peer) at rising send
# rates, one step per interval of RAMP_INTERVALS_MS (each user sends once per interval:
# USERS × 1000 / interval sends a second). Each step runs with the sockets on TalkApp and
# then, in split mode, on the Node relay of loadgen/baselines/node-relay (alternately, step
# by step, so that both see the machine as it is then). Each step reports the frames
# delivered a second, whether every send reached every socket of its peer, p50/p99 from
# the 202 to the last of those frames, and each process's share of a core. Then, for each
# p99 bound of P99_BOUNDS_MS, the highest rate each held with every frame delivered and
# p99 under the bound, the ratio, and the rate at which each reached that p99
# (interpolated between the two steps around it).
#
# Usage: [MODE=split|embedded] [FANOUT=10] [RAMP_INTERVALS_MS="20000 10000 6667 5000 4000"]
#        [P99_BOUNDS_MS="20 50"] [SETTLE=150] [OUT=file] loadgen/bench-fanout-ramp.sh [USERS] [SECONDS]
# MODE=split (default): loadgen/bench-split.sh with RELAY=1 (`npm ci --prefix
# loadgen/baselines/node-relay` first); MODE=embedded: loadgen/bench-embedded.sh (TalkApp
# only: the relay has no embedded form). Their variables (BIN, WORK, PORT, SANDBOX_PORT,
# GRPC_PORT, DATABASE, RELAY_PORT, SETTLE, ...) pass through. SUMMARY_ONLY=file: sums up the
# output of an earlier run (OUT) again, with other bounds, without running anything.
# Needs the release binaries: cargo build --release -p talkapp -p talkapp-loadgen -p talkapp-tg-sandbox
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${MODE:-split}
USERS=${1:-1000}
SECONDS_PER_STEP=${2:-10}
export FANOUT=${FANOUT:-10}
export RAMP_INTERVALS_MS=${RAMP_INTERVALS_MS:-20000 10000 6667 5000 4000}
P99_BOUNDS_MS=${P99_BOUNDS_MS:-20 50}
export RELAY_PORT=${RELAY_PORT:-8099}
# A user may hold 32 sockets on a gateway by default; the ramp may ask for more.
if [ "$FANOUT" -gt 32 ]; then
  export TALKAPP_GATEWAY__WS_MAX_CONNECTIONS_PER_USER=$FANOUT
fi

summary() { # the output of a ramp run
  awk -v relay="http://127.0.0.1:$RELAY_PORT" -v mode="$MODE" -v bounds="$P99_BOUNDS_MS" '
    # k=v tokens of a line into f (the first of a repeated key wins: accept_to_frame p50/p99).
    function fields(line,   n, i, t, k) {
      split("", f)
      n = split(line, t, /[ ;]+/)
      for (i = 1; i <= n; i++) {
        k = index(t[i], "=")
        if (k > 1 && !((substr(t[i], 1, k - 1)) in f)) f[substr(t[i], 1, k - 1)] = substr(t[i], k + 1)
      }
    }
    function target(url) { return url == relay ? "node-relay" : "talkapp-" mode }
    /^scenario=ws / {
      fields($0)
      s = ++steps
      who[s] = target(f["sockets_on"]); interval[s] = f["interval_ms"] + 0
      offered[s] = f["offered_sends_per_s"] + 0; sends[s] = f["delivered_sends_per_s"] + 0
      fps[s] = f["frames_per_s"] + 0; delivered[s] = f["delivered"] + 0
      lost[s] = f["undelivered"] + 0; refused[s] = f["refused"] + 0
      ended[s] = f["sockets_ended_early"] + 0
      p50[s] = f["p50"] + 0; p99[s] = f["p99"] + 0; failed[s] = 0
      next
    }
    /^ramp step failed: / {
      fields($0)
      s = ++steps
      who[s] = target(f["sockets_on"]); interval[s] = f["interval_ms"] + 0
      offered[s] = interval[s] > 0 ? f["users"] * 1000 / interval[s] : 0
      failed[s] = 1; fps[s] = 0; sends[s] = 0; p99[s] = 1e9
      next
    }
    /^cpu / && steps > 0 && !(steps in cpu) {
      line = ""; holder = 0; total = 0
      for (i = 2; i <= NF; i++) {
        if ($i ~ /^machine_idle=/) { idle[steps] = substr($i, 14); continue }
        if (match($i, /^[a-z.-]+=[0-9]+us\/req\(/)) {
          name = substr($i, 1, index($i, "=") - 1)
          share = $i; sub(/.*\(/, "", share); sub(/%core\)$/, "", share); share += 0
          if (name != "loadgen") total += share
          if (who[steps] == "node-relay" ? name == "node-relay" : \
              (name == "gateway" || name == "realtime-service" || name == "redis" || name == "talkapp"))
            holder += share
          line = line (line == "" ? "" : " ") name " " share
        }
      }
      cpu[steps] = line; held_by[steps] = holder; all[steps] = total
      next
    }
    END {
      if (steps == 0) { print "no ramp step in the output"; exit 1 }
      print "| target | interval ms | sends/s asked | sends/s delivered to all sockets | frames/s | delivered / undelivered / refused / sockets ended | 202 → last frame p50 / p99 ms | %core of the socket holder(s) | %core of all watched but loadgen | machine idle | %core per process |"
      print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
      for (s = 1; s <= steps; s++) {
        if (failed[s]) {
          printf "| %s | %d | %.1f | step failed | | | | | | | |\n", who[s], interval[s], offered[s]
          continue
        }
        printf "| %s | %d | %.1f | %.1f | %.0f | %d / %d / %d / %d | %.2f / %.2f | %.0f | %.0f | %s | %s |\n", \
          who[s], interval[s], offered[s], sends[s], fps[s], delivered[s], lost[s], refused[s], \
          ended[s], p50[s], p99[s], held_by[s], all[s], idle[s], cpu[s]
      }
      nb = split(bounds, bound, " ")
      for (b = 1; b <= nb; b++) {
        limit = bound[b] + 0
        printf "\np99 bound %d ms, every frame delivered:\n", limit
        split("", best); split("", best_sends); split("", top); split("", broke); split("", names)
        for (s = 1; s <= steps; s++) {
          names[who[s]] = 1
          if (!(who[s] in top) || offered[s] > top[who[s]]) top[who[s]] = offered[s]
          ok = !failed[s] && lost[s] == 0 && refused[s] == 0 && ended[s] == 0 && p99[s] <= limit
          if (ok && (!(who[s] in best) || fps[s] > best[who[s]])) {
            best[who[s]] = fps[s]; best_sends[who[s]] = sends[s]; best_at[who[s]] = offered[s]
          }
          if (!ok && (!(who[s] in broke) || offered[s] < broke[who[s]])) broke[who[s]] = offered[s]
        }
        for (t in names) {
          if (!(t in best)) { printf "  %s: held no step\n", t; continue }
          # Where p99 crossed the bound, between the steps around it (rates ascending).
          cross = ""; lo = -1; hi = -1
          for (s = 1; s <= steps; s++) {
            if (who[s] != t || failed[s]) continue
            if (p99[s] <= limit && (lo < 0 || offered[s] > offered[lo])) lo = s
          }
          for (s = 1; s <= steps; s++) {
            if (who[s] != t || failed[s] || lo < 0) continue
            if (offered[s] > offered[lo] && p99[s] > limit && (hi < 0 || offered[s] < offered[hi])) hi = s
          }
          if (lo >= 0 && hi >= 0)
            cross = sprintf("; p99 reached %d ms at about %.0f frames/s (between %.0f and %.0f)", limit, \
              fps[lo] + (fps[hi] - fps[lo]) * (limit - p99[lo]) / (p99[hi] - p99[lo]), fps[lo], fps[hi])
          printf "  %s: %s%.0f frames/s (%.1f sends/s delivered, at %.1f asked)%s%s%s\n", t, \
            best_at[t] == top[t] ? ">= " : "", best[t], best_sends[t], best_at[t], \
            best_at[t] == top[t] ? ", the highest step: its ceiling was not reached" : "", \
            (t in broke) && broke[t] < best_at[t] ? sprintf(", though the step at %.1f sends/s did not hold", broke[t]) : "", cross
        }
        tk = "talkapp-" mode
        if ((tk in best) && ("node-relay" in best)) {
          relay_top = best_at["node-relay"] == top["node-relay"]
          talkapp_top = best_at[tk] == top[tk]
          printf "  talkapp / relay: %.2fx%s\n", best[tk] / best["node-relay"], \
            relay_top && talkapp_top ? " (both held the highest step: neither ceiling was reached, so this ratio says nothing; ramp higher)" : \
            relay_top ? " (the relay held the highest step: a bound from above)" : \
            (talkapp_top ? " (TalkApp held the highest step: a bound from below)" : "")
        }
      }
    }
  '
}

if [ -n "${SUMMARY_ONLY:-}" ]; then
  summary <"$SUMMARY_ONLY"
  exit
fi

OUT=${OUT:-/tmp/fanout-ramp-$MODE-$(date -u +%Y%m%dT%H%M%SZ).out}
echo "ramp: mode=$MODE users=$USERS fanout=$FANOUT seconds=$SECONDS_PER_STEP intervals_ms=\"$RAMP_INTERVALS_MS\" output in $OUT"
status=0
case $MODE in
  split)
    [ -d "$ROOT/loadgen/baselines/node-relay/node_modules" ] || {
      echo "the relay is not installed: npm ci --prefix loadgen/baselines/node-relay" >&2
      exit 1
    }
    SCENARIOS=ws-ramp RELAY=1 "$ROOT/loadgen/bench-split.sh" "$USERS" "$SECONDS_PER_STEP" |
      tee "$OUT" || status=$?
    ;;
  embedded)
    # The embedded default has no relay beside it.
    (unset RELAY_PORT && SCENARIOS=ws-ramp "$ROOT/loadgen/bench-embedded.sh" "$USERS" \
      "$SECONDS_PER_STEP") | tee "$OUT" || status=$?
    ;;
  *) echo "MODE is split or embedded, not $MODE" >&2; exit 2 ;;
esac
echo
summary <"$OUT"
exit "$status"
