# Sourced first by loadgen/bench-embedded.sh and loadgen/bench-split.sh (with their
# arguments). With autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled = 1, as on
# the project's machines) `nice` orders processes only within one session: a build niced to
# 19 in another session still takes an equal share of the cores, so on a machine where
# others build the benchmark gets a fraction of a core (docs/BENCHMARKS.md, 2026-12-07,
# 5,000 users in split mode: p50 2.7 s and 503s at nice 0, 8 ms at -10).
# BENCH_AUTOGROUP_NICE=-10 runs the benchmark in a session of its own with that priority
# (root only), so that builds in other sessions yield to it as their nice asks. PostgreSQL,
# Redis and RabbitMQ keep their own sessions and priorities. Unset: nothing changes.
if [ -n "${BENCH_AUTOGROUP_NICE:-}" ]; then
  if [ -z "${BENCH_OWN_SESSION:-}" ]; then
    BENCH_OWN_SESSION=1 exec setsid -w "$0" "$@"
  fi
  echo "$BENCH_AUTOGROUP_NICE" >/proc/self/autogroup
  echo "benchmark session: $(cat /proc/self/autogroup)" >&2
fi
