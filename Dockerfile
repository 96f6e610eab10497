# syntax=docker/dockerfile:1
#
# One image, six binaries: gateway, chat-service, media-service, search-service,
# realtime-service and talkapp (all in one, with the local Telegram sandbox inside). The
# image starts `talkapp` by default; docker-compose.yml and the Kubernetes manifests under
# deploy/ pick the binary with `command:`. The split services' binaries carry no test
# Telegram; the sandbox as its own process is the separate target `tg-sandbox`.
#
#   docker build -t talkapp:dev .
#   docker run --rm -p 8080:8080 talkapp:dev                 # all in one, SQLite
#   docker run --rm talkapp:dev gateway                      # one split process
#   docker build --target tg-sandbox -t talkapp-tg-sandbox:dev .

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
# The protos are compiled by protox (pure Rust): no protoc to install. The media service
# links libopus (voice waveforms), found through pkg-config.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopus-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target directory between builds (BuildKit);
# the binaries are copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --workspace --locked \
    && mkdir -p /out /out-sandbox \
    && for bin in gateway chat-service media-service search-service realtime-service talkapp; do \
         cp "target/release/${bin}" /out/; \
       done \
    && cp target/release/tg-sandbox /out-sandbox/

# A static ffmpeg for video previews: the FFmpeg project's GPL build (BtbN's) as PyPI's
# imageio-ffmpeg wheel ships it, pinned by hash (x86_64 and aarch64). Debian's ffmpeg loads
# 215 shared libraries at every start: about 73 ms of CPU per video preview against about
# 20 ms for this one (docs/BENCHMARKS.md, 2026-12-06), and the runtime image needs none of
# those libraries.
FROM python:3.11-slim-bookworm AS ffmpeg
RUN printf '%s\n' 'imageio-ffmpeg==0.8.1 \' \
      '  --hash=sha256:050d6850601c3b3890bd2b28306f3b842b3daea390a561101174375a1c460bda \' \
      '  --hash=sha256:fad3176f859b25869e60a8ed79957d4e3ed74a97a95e5f0cdcb91455f6c6d00e' \
      > /tmp/ffmpeg.txt \
    && pip download --no-deps --only-binary=:all: --require-hashes -r /tmp/ffmpeg.txt -d /tmp/wheel \
    && python -m zipfile -e /tmp/wheel/imageio_ffmpeg-*.whl /tmp/unpacked \
    && mkdir -p /out \
    && install -m 0755 /tmp/unpacked/imageio_ffmpeg/binaries/ffmpeg-linux-* /out/ffmpeg \
    && /out/ffmpeg -hide_banner -version

# The local Telegram sandbox as its own process (compose's `tg-sandbox` service).
FROM ${RUNTIME_IMAGE} AS tg-sandbox
RUN groupadd --system --gid 10001 talkapp \
    && useradd --system --uid 10001 --gid talkapp --home-dir /var/lib/tg-sandbox \
         --shell /usr/sbin/nologin talkapp \
    && mkdir -p /var/lib/tg-sandbox \
    && chown -R talkapp:talkapp /var/lib/tg-sandbox
COPY --from=builder /out-sandbox/ /usr/local/bin/
USER 10001:10001
EXPOSE 9443 9444
ENTRYPOINT ["tg-sandbox"]

# The default target (last): the services and the all-in-one binary.
# ffmpeg (the static one above) and poppler-utils (pdftoppm) make the preview images of
# uploaded videos and PDFs (optional: without them those get none; prlimit, which limits
# each run, is in util-linux, always there).
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libopus0 \
         poppler-utils \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 talkapp \
    && useradd --system --uid 10001 --gid talkapp --home-dir /var/lib/talkapp \
         --shell /usr/sbin/nologin talkapp \
    && mkdir -p /var/lib/talkapp/data \
    && chown -R talkapp:talkapp /var/lib/talkapp
COPY --from=builder /out/ /usr/local/bin/
COPY --from=ffmpeg /out/ffmpeg /usr/local/bin/ffmpeg
# The embedded default keeps its SQLite file, media and generated key under ./data;
# in the image that is /var/lib/talkapp/data (mount a volume there to keep it).
# Listening on all interfaces is what a container needs; the split services get their
# own `*_SERVICE__LISTEN` from compose or Kubernetes.
WORKDIR /var/lib/talkapp
ENV TALKAPP_DATA__DIR=/var/lib/talkapp/data \
    TALKAPP_GATEWAY__LISTEN=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080 50051 50052 50053 50054
CMD ["talkapp"]
