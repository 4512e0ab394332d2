# The ringkv node image, for machines that reach a registry:
#   docker build -t ringkv:latest .
# Stage 1 builds the release binary with the Rust image; stage 2 runs it on Debian slim as a
# non-root user. On a machine without a registry, deploy/docker/build-local makes the same
# runtime image FROM scratch (the binary plus the shared libraries it links) under the same tag,
# reusing the runtime section at the end of this file verbatim.
#
# Configuration: /etc/ringkv/config.toml (the repo's config.toml, all defaults), then the
# environment (HOST, PORT, RINGKV_<SECTION>__<KEY>, e.g. RINGKV_PUBLIC_URL, RINGKV_PEERS,
# RINGKV_CLUSTER_SECRET), then flags after `serve` (`docker run ringkv:latest serve --set quorum.w=1`).
# A node that others must reach needs RINGKV_PUBLIC_URL (default http://127.0.0.1:7777).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ringkv \
 && strip --strip-debug -o /ringkv target/release/ringkv

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 ringkv \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home ringkv \
 && install -d -o 10001 -g 10001 /data
COPY --from=build /ringkv /usr/local/bin/ringkv
COPY config.toml /etc/ringkv/config.toml

# ---- runtime (deploy/docker/build-local appends the lines from here to the end to its image) ----
ENV RINGKV_CONFIG=/etc/ringkv/config.toml \
    HOST=0.0.0.0 \
    PORT=7777 \
    RINGKV_DATA_DIR=/data \
    RUST_LOG=info
WORKDIR /data
USER 10001:10001
# Storage engine, pinned node id, members and settings: keep it on a volume.
VOLUME ["/data"]
EXPOSE 7777
# Alive = GET /healthcheck answers 200 (`ringkv healthcheck --ready` also waits for the join).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/ringkv", "healthcheck"]
# SIGTERM: stop accepting, finish in-flight requests, sync the storage log, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ringkv"]
CMD ["serve"]
