# ringkv node image: build the release binary, run it on a slim base.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin ringkv && cp target/release/ringkv /usr/local/bin/ringkv

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/ringkv --create-home ringkv
COPY --from=build /usr/local/bin/ringkv /usr/local/bin/ringkv
USER ringkv
WORKDIR /var/lib/ringkv
ENV HOST=0.0.0.0 \
    PORT=7777 \
    RINGKV_DATA_DIR=/var/lib/ringkv/data \
    RUST_LOG=info
EXPOSE 7777
VOLUME ["/var/lib/ringkv/data"]
# SIGTERM shuts the node down cleanly (drain, sync the log, exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["ringkv"]
CMD ["serve"]
