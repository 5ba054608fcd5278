# syntax=docker/dockerfile:1
#
# MPS API image.  Build:  docker build -t mps:0.1.0 .
# Stage 1 compiles with the Rust toolchain; stage 2 is a slim Debian with only the binary, run as a
# non-root user.  Builder and runtime share the Debian release so the binary's glibc matches.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /build
# sqlx must never try to reach a database at build time (it uses .sqlx/ metadata when present).
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

# Dependency layer: only the manifests of the workspace, with stub sources.  The slow build of every
# dependency is then cached until a Cargo.toml or Cargo.lock changes, not on every source edit.
COPY Cargo.toml Cargo.lock ./
COPY crates/mps-api/Cargo.toml crates/mps-api/
COPY crates/mps/Cargo.toml crates/mps/
COPY crates/mps-cli/Cargo.toml crates/mps-cli/
COPY crates/mps-bench/Cargo.toml crates/mps-bench/
COPY crates/test-support/Cargo.toml crates/test-support/
RUN for crate in mps-api mps mps-cli mps-bench test-support; do \
        mkdir -p "crates/$crate/src" && echo 'fn main() {}' > "crates/$crate/src/main.rs" && touch "crates/$crate/src/lib.rs"; \
    done \
 && cargo build --release --locked -p mps \
 && rm -rf crates/*/src target/release/mps target/release/deps/mps-* target/release/deps/libmps-* \
           target/release/deps/mps_api-* target/release/deps/libmps_api-* \
           target/release/.fingerprint/mps-*

# Real sources.  .dockerignore admits only what the build reads (crates/, web/dist/, .sqlx/, …);
# migrations, SQL functions and the console's assets are embedded in the binary, so the runtime
# stage needs nothing else.
COPY . .
# Only the server goes into the image; the terminal client (mps-cli) is not built here.
RUN cargo build --release --locked -p mps --bin mps \
 && install -D -m 0755 target/release/mps /out/mps

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 mps \
 && useradd --system --uid 10001 --gid mps --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin mps
COPY --from=builder /out/mps /usr/local/bin/mps
# The server reads ./.env when present; an empty, root-owned working directory means it never does
# by accident inside the image.  Configuration comes from the environment.
WORKDIR /app
ENV API_HOST=0.0.0.0 \
    API_PORT=8000 \
    LOG_FORMAT=json
USER 10001:10001
EXPOSE 8000
# /health: 200 when healthy or degraded (Redis down), 503 when the database is down.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["mps", "healthcheck"]
ENTRYPOINT ["mps"]
CMD ["serve"]
