# The all-in-one backend the upload scripts measure (loadgen/bench-uploads.sh,
# loadgen/count-upload.sh): the release binary, SQLite and files under $WORK/data, the
# quota and rate limit raised for large uploads, logs at warn; then one user registered
# and logged in. Sourced (not run) with BIN, WORK, PORT and BASE set; the caller's
# cleanup trap stops the backend.
# start_upload_backend EMAIL_PREFIX: sets `pid` (the backend's) and `token` (the user's).
start_upload_backend() {
  TALKAPP_DATA__DIR="$WORK/data" \
  TALKAPP_DATABASE__URL="sqlite://$WORK/data/talkapp.db" \
  TALKAPP_GATEWAY__LISTEN=127.0.0.1:$PORT \
  TALKAPP_MEDIA__QUOTA_BYTES=$((64 * 1024 * 1024 * 1024)) \
  TALKAPP_RATE_LIMIT__API_PER_MINUTE=100000 \
  TALKAPP_LOG__FILTER=warn \
    "$BIN/talkapp" >"$WORK/talkapp.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done

  local email="$1-$RANDOM@example.com"
  curl -sf -XPOST "$BASE/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" >/dev/null
  token=$(curl -sf -XPOST "$BASE/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
}
