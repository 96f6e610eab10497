#!/usr/bin/env bash
# The upload benchmarks of docs/BENCHMARKS.md (issue 11): the all-in-one backend in
# release mode (SQLite, files under its data directory), then
#   1. a 100 MiB and a 1 GiB upload (raw body, streamed) against a plain disk copy of the
#      same file on the same run (`cp` + `sync`), throughput and their ratio; both times
#      end with a `sync`, so both count the bytes reaching the disk (each line also prints
#      how long that final `sync` took on each side);
#   2. the backend's memory growth over those uploads (peak RSS less the RSS before);
#   3. 50 concurrent 10 MiB uploads: wall time, throughput, CPU per request, and how long
#      a `sync` after them takes (what of the 500 MiB was not yet on disk).
# Each big upload also prints the backend's CPU time over it (user + system, from
# /proc/PID/stat): on a busy machine the times vary with the load, the CPU much less.
# Needs the release binary (`cargo build --release -p talkapp`) and curl.
# Usage: [WORK=/tmp/talkapp-bench-uploads] [PORT=8090] loadgen/bench-uploads.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
WORK=${WORK:-/tmp/talkapp-bench-uploads}
PORT=${PORT:-8090}
BASE=http://127.0.0.1:$PORT

rm -rf "$WORK" && mkdir -p "$WORK/data"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK/files"; }
trap cleanup EXIT

source "$ROOT/loadgen/upload-backend.sh"
start_upload_backend bench

# A well-formed one-page PDF whose bulk is one stream of random bytes: accepted as a
# document, incompressible, and previewed as a real PDF is (pdftoppm reads the trailer
# and renders the blank page in milliseconds). Before 2026-12-06 the file was a PDF header
# then random bytes: with no xref, pdftoppm (when installed) read the whole file trying to
# rebuild one, which no real upload makes it do. `$3` varies the bytes' first line.
make_file() { # path MiB [tag]
  python3 "$ROOT/loadgen/make-pdf.py" "$1" $(($2 * 1024 * 1024)) "${3:-}"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
now() { date +%s.%N; }

mkdir -p "$WORK/files"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); commit $(git -C "$ROOT" rev-parse --short HEAD); $(date -u +%F)"
baseline=$(rss_kib)
for size in 100 1024; do
  file="$WORK/files/upload-$size.pdf"
  make_file "$file" "$size"
  sync
  start=$(now); cp "$file" "$WORK/files/copy-$size.pdf"; copied=$(now); sync
  copy_s=$(echo "$(now) - $start" | bc -l); copy_sync_s=$(echo "$(now) - $copied" | bc -l)
  rm -f "$WORK/files/copy-$size.pdf"
  ticks_before=$(cpu_ticks)
  start=$(now)
  status=$(curl -s -o "$WORK/upload-$size.json" -w '%{http_code}' -XPOST "$BASE/upload?filename=f.pdf" \
    -H "authorization: Bearer $token" -H 'content-type: application/pdf' -T "$file")
  answered=$(now)
  sync
  upload_s=$(echo "$(now) - $start" | bc -l); upload_sync_s=$(echo "$(now) - $answered" | bc -l)
  upload_cpu=$(echo "($(cpu_ticks) - $ticks_before) / $(getconf CLK_TCK)" | bc -l)
  [ "$status" = 201 ] || { echo "upload of $size MiB answered $status: $(cat "$WORK/upload-$size.json")"; exit 1; }
  preview=$(grep -q '"preview_id":"' "$WORK/upload-$size.json" && echo "with a preview" || echo "no preview")
  printf 'upload %5s MiB: %6.2f s (%7.1f MiB/s); disk copy %6.2f s (%7.1f MiB/s); ratio %.2f (%s); backend CPU %.2f s; of which the final sync: upload %.2f s, copy %.2f s\n' \
    "$size" "$upload_s" "$(echo "$size / $upload_s" | bc -l)" "$copy_s" "$(echo "$size / $copy_s" | bc -l)" \
    "$(echo "$copy_s / $upload_s" | bc -l)" "$preview" "$upload_cpu" "$upload_sync_s" "$copy_sync_s"
  rm -f "$file"
done
peak=$(hwm_kib)
printf 'memory: RSS before %d MiB, peak during the uploads %d MiB, growth %d MiB\n' \
  $((baseline / 1024)) $((peak / 1024)) $(((peak - baseline) / 1024))

for i in $(seq 1 50); do
  make_file "$WORK/files/ten-$i.pdf" 10 "$i" # distinct bytes per upload: none is deduplicated
done
ticks_before=$(cpu_ticks)
start=$(now)
seq 1 50 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code}\n' -XPOST "$BASE/upload" \
  -H "authorization: Bearer $token" -H 'content-type: application/pdf' -T "$WORK/files/ten-{}.pdf" \
  >"$WORK/concurrent.txt"
wall=$(echo "$(now) - $start" | bc -l)
ticks=$(($(cpu_ticks) - ticks_before))
synced=$(now); sync; batch_sync_s=$(echo "$(now) - $synced" | bc -l)
ok=$(grep -c '^201$' "$WORK/concurrent.txt" || true)
printf '50 concurrent 10 MiB uploads: %d x 201 in %.2f s (%.1f MiB/s), CPU %.0f ms per upload; a sync after them %.2f s\n' \
  "$ok" "$wall" "$(echo "500 / $wall" | bc -l)" "$(echo "$ticks * 1000 / $(getconf CLK_TCK) / 50" | bc -l)" "$batch_sync_s"
