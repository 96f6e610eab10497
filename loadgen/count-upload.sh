#!/usr/bin/env bash
# What one raw upload costs the all-in-one backend, counted (issue 11): its CPU (user and
# system, from /proc/PID/stat), and with `perf` its context switches and system calls by
# kind, and the sizes its socket reads and file writes take. The backend as in
# loadgen/bench-uploads.sh (release build, SQLite, files under its data directory); the
# file is copied once before (as that script does) so that the upload writes into pages
# the VM has backed already.
# Needs root (perf's syscall tracepoints), perf, curl, python3.
# Usage: BIN=<release dir> [PORT=8090] [WORK=/tmp/talkapp-count-upload] [SIZE=1024 (MiB)]
#        [RUNS=3] [SIZES=1 (also the read and write size histograms, one more upload)]
#        [PROFILE=0 (1: also `perf record -g` of one more upload: its top symbols, user and
#        kernel, and its kernel samples split by system call and part, loadgen/kernel-split.py)]
#        loadgen/count-upload.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
WORK=${WORK:-/tmp/talkapp-count-upload}
PORT=${PORT:-8090}
SIZE=${SIZE:-1024}
RUNS=${RUNS:-3}
SIZES=${SIZES:-1}
PROFILE=${PROFILE:-0}
BASE=http://127.0.0.1:$PORT

rm -rf "$WORK" && mkdir -p "$WORK/data" "$WORK/files"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK/files" "$WORK/data/media"; }
trap cleanup EXIT

source "$ROOT/loadgen/upload-backend.sh"
start_upload_backend count

cpu() { awk '{print $14, $15}' "/proc/$pid/stat"; }
tck=$(getconf CLK_TCK)
echo "binary $BIN/talkapp; $(nproc) cores; $(date -u +'%F %T') UTC; load $(cut -d' ' -f1-3 /proc/loadavg)"

upload() { # tag
  curl -s -o "$WORK/answer.json" -w '%{http_code}' -XPOST "$BASE/upload?filename=f.pdf" \
    -H "authorization: Bearer $token" -H 'content-type: application/pdf' -T "$WORK/files/upload-$1.pdf"
}

events=context-switches,cpu-migrations,syscalls:sys_enter_read,syscalls:sys_enter_write
events+=,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_lseek
events+=,syscalls:sys_enter_sched_yield,syscalls:sys_enter_madvise,syscalls:sys_enter_mmap
events+=,syscalls:sys_enter_munmap,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom
events+=,page-faults
for run in $(seq 1 "$RUNS"); do
  # Distinct bytes each run: the upload is never deduplicated away.
  python3 "$ROOT/loadgen/make-pdf.py" "$WORK/files/upload-$run.pdf" $((SIZE * 1024 * 1024)) "$run"
  cp "$WORK/files/upload-$run.pdf" "$WORK/files/copy.pdf"; sync; rm -f "$WORK/files/copy.pdf"
  perf stat -x, -o "$WORK/stat-$run.csv" -e "$events" -p "$pid" &
  perf_pid=$!
  sleep 0.5
  read -r user0 sys0 < <(cpu)
  start=$(date +%s.%N)
  status=$(upload "$run")
  wall=$(echo "$(date +%s.%N) - $start" | bc -l)
  read -r user1 sys1 < <(cpu)
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  [ "$status" = 201 ] || { echo "upload answered $status: $(cat "$WORK/answer.json")"; exit 1; }
  printf 'run %d: %d MiB in %.2f s; backend CPU %.2f s (user %.2f, system %.2f)\n' "$run" "$SIZE" "$wall" \
    "$(echo "($user1 + $sys1 - $user0 - $sys0) / $tck" | bc -l)" \
    "$(echo "($user1 - $user0) / $tck" | bc -l)" "$(echo "($sys1 - $sys0) / $tck" | bc -l)"
  awk -F, '$1 ~ /^[0-9]+$/ {printf "  %-32s %10d\n", $3, $1}' "$WORK/stat-$run.csv"
  rm -f "$WORK/files/upload-$run.pdf"
done

if [ "$SIZES" = 1 ]; then
  # The sizes: each read's (recvfrom's, on a socket) and write's result, from the exit tracepoints, for one more
  # upload (perf record costs the backend more than perf stat: its CPU is not shown).
  python3 "$ROOT/loadgen/make-pdf.py" "$WORK/files/upload-sizes.pdf" $((SIZE * 1024 * 1024)) sizes
  cp "$WORK/files/upload-sizes.pdf" "$WORK/files/copy.pdf"; sync; rm -f "$WORK/files/copy.pdf"
  perf record -q -o "$WORK/sizes.data" -e syscalls:sys_exit_read,syscalls:sys_exit_recvfrom,syscalls:sys_exit_write -p "$pid" &
  perf_pid=$!
  sleep 0.5
  status=$(upload sizes)
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  [ "$status" = 201 ] || { echo "upload answered $status"; exit 1; }
  perf script -i "$WORK/sizes.data" -F comm,event,trace 2>/dev/null | python3 -c '
import collections, re, sys
bounds = [8, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 1 << 40]
hist = {}
for line in sys.stdin:
    match = re.search(r"^\s*(.+?)\s+syscalls:sys_exit_(read|recvfrom|write):\s+0x([0-9a-f]+)", line)
    if not match:
        continue
    comm, kind, value = match.group(1), match.group(2), int(match.group(3), 16)
    if value >= 1 << 63:
        value = -1
    bucket = next((b for b in bounds if value <= b), "err")
    key = (kind, comm)
    hist.setdefault(key, collections.Counter())[bucket] += 1
    hist[key]["bytes"] += max(value, 0)
for (kind, comm), counter in sorted(hist.items()):
    total = sum(v for k, v in counter.items() if k != "bytes")
    mib = counter["bytes"] / 1048576
    print(f"  {kind} on {comm}: {total} calls, {mib:.1f} MiB")
    for b in bounds:
        if counter[b]:
            label = b if b < 1 << 40 else "more"
            print(f"    <= {label}: {counter[b]}")
'
fi

if [ "$PROFILE" = 1 ]; then
  # Where the CPU goes: the samples of one more upload by symbol (all threads), with call
  # chains so that the kernel's share splits by what it was doing.
  python3 "$ROOT/loadgen/make-pdf.py" "$WORK/files/upload-profile.pdf" $((SIZE * 1024 * 1024)) profile
  cp "$WORK/files/upload-profile.pdf" "$WORK/files/copy.pdf"; sync; rm -f "$WORK/files/copy.pdf"
  perf record -q -g -F 2999 -o "$WORK/profile.data" -p "$pid" &
  perf_pid=$!
  sleep 0.5
  status=$(upload profile)
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  [ "$status" = 201 ] || { echo "upload answered $status"; exit 1; }
  perf report -i "$WORK/profile.data" --no-children --sort comm,sym --percent-limit 1 --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]' | head -40
  echo "the kernel's share by system call and part (% of all samples):"
  perf script -i "$WORK/profile.data" -F comm,tid,period,ip,sym 2>/dev/null | python3 "$ROOT/loadgen/kernel-split.py"
fi
