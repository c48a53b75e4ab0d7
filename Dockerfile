# troupe server image: a static binary on Debian 12 slim, run as an
# unprivileged user. docs/cluster.md shows it in a three-node cluster
# (compose.yaml).
#
#   docker build -t troupe .
#   podman build --format docker -t troupe .   # docker format keeps HEALTHCHECK
#   docker run --rm troupe check-config
#   docker run -p 8080:8080 -v troupe-data:/var/lib/troupe troupe
#
# The container listens on 0.0.0.0:8080 (TROUPE_ADDR). Set the address
# through TROUPE_ADDR, not --addr: the health check reads its port from it.

# go.mod asks for Go 1.26.8 or later; the official golang images build with
# their own toolchain only (GOTOOLCHAIN=local), so use a current 1.26 image.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
# CGO off: the SQLite driver (modernc.org/sqlite) and everything else are
# pure Go, so the binary is static and runs on any base.
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The cache mount keeps Go's build cache between builds (BuildKit, buildah).
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/troupe ./cmd/troupe \
 && /out/troupe check-config --store memory:

FROM debian:12-slim
# curl for the health check; ca-certificates for tls:// NATS and PostgreSQL
# with sslmode=verify-full.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/troupe --shell /usr/sbin/nologin troupe \
 && install -d -o troupe -g troupe -m 0750 /var/lib/troupe /var/lib/troupe/data
COPY --from=build /out/troupe /usr/local/bin/troupe
USER troupe:troupe
# The default store, sqlite://data/troupe.db, is /var/lib/troupe/data/troupe.db:
# mount a volume on /var/lib/troupe to keep it. A cluster node uses
# --store postgres://… and keeps nothing here.
WORKDIR /var/lib/troupe
ENV TROUPE_ADDR=0.0.0.0:8080
# 8080: HTTP and WebSocket. 7422: the embedded NATS route listener, when
# --cluster-listen 0.0.0.0:7422 turns the cluster on.
EXPOSE 8080 7422
# /readyz answers 200 once the node serves and 503 while it starts or drains.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${TROUPE_ADDR##*:}/readyz" || exit 1
# SIGTERM drains (--shutdown-timeout, 30s by default): give the container
# that long to stop (docker stop -t 35, compose stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/troupe"]
CMD ["serve"]
