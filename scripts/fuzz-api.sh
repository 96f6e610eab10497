#!/usr/bin/env bash
# Fuzzes the whole REST API with schemathesis (PyPI) against the embedded default:
# a signed-in user with a linked Telegram account (the sandbox's Alice), every operation
# of /openapi.json with generated and mutated input, within a time budget. Fails when a
# response is a 5xx, or its status, content type or body is not what the document says.
#
#   bash scripts/fuzz-api.sh                 # builds target/debug/talkapp if missing
#   FUZZ_SECONDS=600 TALKAPP_BIN=target/release/talkapp bash scripts/fuzz-api.sh
#
# Needs: python3 -m pip install 'schemathesis==4.32.5' (the script installs it if absent).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${TALKAPP_BIN:-target/debug/talkapp}
SECONDS_BUDGET=${FUZZ_SECONDS:-150}
if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
  python3 -m pip install --quiet 'schemathesis==4.32.5'
fi
if [ ! -x "$BIN" ]; then
  cargo build -p talkapp
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
cleanup() {
  if [ -n "${backend:-}" ]; then kill "$backend" 2>/dev/null || true; wait "$backend" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Limits high enough that the fuzzer, one user from one address, is not mostly refused
# with 429 (the limits themselves are tested elsewhere).
TALKAPP_DATA__DIR="$work" \
TALKAPP_DATABASE__URL="sqlite://$work/talkapp.db" \
TALKAPP_GATEWAY__LISTEN="127.0.0.1:$port" \
TALKAPP_RATE_LIMIT__API_PER_MINUTE=1000000 \
TALKAPP_RATE_LIMIT__API_BURST=100000 \
TALKAPP_RATE_LIMIT__AUTH_PER_MINUTE=1000000 \
TALKAPP_RATE_LIMIT__AUTH_BURST=100000 \
TALKAPP_LOG__FILTER=warn \
  "$BIN" >"$work/backend.log" 2>&1 &
backend=$!
for _ in $(seq 1 120); do
  if curl -sf "$base/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -sf "$base/readyz" >/dev/null || { cat "$work/backend.log"; echo "backend not ready" >&2; exit 1; }

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
curl -sf -XPOST "$base/auth/register" -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","password":"correct horse battery"}' >/dev/null
login=$(curl -sf -XPOST "$base/auth/login" -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","password":"correct horse battery"}')
token=$(echo "$login" | json '["access_token"]')
user_id=$(echo "$login" | json '["user"]["id"]')
login_id=$(curl -sf -XPOST "$base/me/sessions/$user_id" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"phone":"+9996620001"}' | json '["login_id"]')
curl -sf -XPOST "$base/me/sessions/$user_id/login/$login_id/code" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"code":"22222"}' >/dev/null

cat >"$work/schemathesis.toml" <<TOML
headers = { Authorization = "Bearer $token" }
request-timeout = 15.0

[parameters]
"path.user_id" = "$user_id"
"path.session_index" = 1
TOML

# Not fuzzed: what would end the fuzzer's own session or unlink its account midway
# (each has its own tests), and the WebSocket upgrade. The `coverage` phase is left out:
# with schemathesis 4.32.5 on Python 3.11 it stops on an error of its own (hypothesis's
# "AST constructor recursion depth mismatch"), not on anything the API answered.
status=0
st --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path-regex '^/(auth/logout|auth/v1/logout|ws/.*|me/telegrams.*)$' \
  --exclude-by 'method == "DELETE" and path == "/me/sessions/{user_id}/{session_index}"' \
  --phases examples,fuzzing,stateful \
  --max-time "$SECONDS_BUDGET" --workers 2 --no-color || status=$?
if grep -q "panicked" "$work/backend.log"; then
  grep -n -B2 -A5 "panicked" "$work/backend.log" >&2
  status=1
fi
exit "$status"
