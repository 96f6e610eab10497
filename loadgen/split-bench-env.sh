# The environment of the split-mode benchmarks (loadgen/bench-split.sh and
# loadgen/pg-per-send.sh, sourced by both): the servers' URLs from their host:port, then
# split-env.sh (the five processes' settings), then what sets a benchmark's processes
# apart from anything else on the same servers: key and queue prefixes, queues that expire
# when the run is gone, and quiet logs.
# Needs POSTGRES, REDIS, AMQP (host:port each), DATABASE, SANDBOX_PORT (its admin API on
# the next port), PREFIX, and what split-env.sh needs beside (WORK, PORT, SECRET, ISSUER,
# optionally GRPC_PORT); QUEUE_TYPE optional (classic, as docker-compose.yml: ADR 0012).
DATABASE_URL=postgres://postgres@$POSTGRES/$DATABASE
REDIS_URL=redis://$REDIS
AMQP_URL=amqp://guest:guest@$AMQP/%2f
SANDBOX=127.0.0.1:$SANDBOX_PORT
SANDBOX_ADMIN=127.0.0.1:$((SANDBOX_PORT + 1))
source "$(dirname "${BASH_SOURCE[0]}")/split-env.sh"
export TALKAPP_REDIS__PREFIX=$PREFIX
export TALKAPP_RATE_LIMIT__REDIS_KEY_PREFIX=$PREFIX
export TALKAPP_AMQP__PREFIX=$PREFIX
export TALKAPP_AMQP__QUEUE_EXPIRES_SECS=60
# One broker node here: classic queues; QUEUE_TYPE=quorum measures the cluster setting on
# the same node.
export TALKAPP_AMQP__QUEUE_TYPE=${QUEUE_TYPE:-classic}
export TALKAPP_LOG__FILTER=warn
