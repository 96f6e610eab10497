# The environment of the five split-mode processes, shared by loadgen/bench-split.sh and
# scripts/fault-suite.sh (sourced by both): the servers, the load generator's token issuer,
# the sandbox, and the limits lifted for load that comes from one address.
# Needs DATABASE_URL, REDIS_URL, AMQP_URL, SANDBOX (host:port of its MTProto listener),
# SANDBOX_ADMIN (host:port of its admin API), WORK, PORT, SECRET, ISSUER; optionally
# GRPC_PORT, the chat service's gRPC port (the media, search and realtime services take the
# next three; 50051 by default, as in the configuration's defaults).
export TALKAPP_DATABASE__URL=$DATABASE_URL
export TALKAPP_REDIS__URL=$REDIS_URL
export TALKAPP_AMQP__URL=$AMQP_URL
export TALKAPP_AUTH__SIGNING_SECRET=$SECRET
export TALKAPP_AUTH__EXTERNAL__HS256_SECRET=$SECRET
export TALKAPP_AUTH__EXTERNAL__ISSUER=$ISSUER
export TALKAPP_TELEGRAM__SANDBOX_ADDRESS=$SANDBOX
export TALKAPP_TELEGRAM__SANDBOX_ADMIN_URL=http://$SANDBOX_ADMIN
export TALKAPP_RATE_LIMIT__API_PER_MINUTE=100000
# Every user links from this one address: the login limit per address would refuse them.
export TALKAPP_RATE_LIMIT__TELEGRAM_LOGIN_PER_HOUR=1000000
export TALKAPP_RATE_LIMIT__TELEGRAM_LOGIN_BURST=100000
# Every socket comes from this one address too (0: no limit per address).
export TALKAPP_GATEWAY__MAX_CONNECTIONS_PER_CLIENT=0
export TALKAPP_DATA__DIR=$WORK/data
export TALKAPP_GATEWAY__LISTEN=127.0.0.1:$PORT
GRPC_PORT=${GRPC_PORT:-50051}
export TALKAPP_CHAT_SERVICE__LISTEN=127.0.0.1:$GRPC_PORT
export TALKAPP_MEDIA_SERVICE__LISTEN=127.0.0.1:$((GRPC_PORT + 1))
export TALKAPP_SEARCH_SERVICE__LISTEN=127.0.0.1:$((GRPC_PORT + 2))
export TALKAPP_REALTIME_SERVICE__LISTEN=127.0.0.1:$((GRPC_PORT + 3))
export TALKAPP_GATEWAY__CHAT_SERVICE_URL=http://127.0.0.1:$GRPC_PORT
export TALKAPP_GATEWAY__MEDIA_SERVICE_URL=http://127.0.0.1:$((GRPC_PORT + 1))
export TALKAPP_GATEWAY__SEARCH_SERVICE_URL=http://127.0.0.1:$((GRPC_PORT + 2))
export TALKAPP_GATEWAY__REALTIME_SERVICE_URL=http://127.0.0.1:$((GRPC_PORT + 3))
export TALKAPP_SENDS__MEDIA_SERVICE_URL=http://127.0.0.1:$((GRPC_PORT + 1))
export TALKAPP_SEARCH__CHAT_SERVICE_URL=http://127.0.0.1:$GRPC_PORT
