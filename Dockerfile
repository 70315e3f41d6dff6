# syntax=docker/dockerfile:1
# Images for socketio-sidecar, built from Debian bookworm packages. Build context: the repository
# root.
#   docker build -t socketio-sidecar .                             the sidecar (the default target)
#   docker build --target demo-backend -t demo-backend .           the Go demo backend
#   docker build --target demo-backend-cpp -t demo-backend-cpp .   the C++ demo backend
# The Go demo needs the Go of sdk/go/go.mod (1.26), newer than Debian's golang-go (1.19); it is
# built in the official Go image, itself Debian bookworm. Another one: --build-arg GO_IMAGE=...
ARG GO_IMAGE=golang:1.26-bookworm

# --- build: the sidecar and the C++ demo, with Debian's gRPC, Protobuf, Boost, Abseil, hiredis --
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config ccache \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libboost1.81-dev libboost-url1.81-dev libabsl-dev nlohmann-json3-dev zlib1g-dev \
      libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY proto proto
COPY sidecar sidecar
COPY sdk/cpp sdk/cpp
COPY examples/cpp examples/cpp
# CMakeLists.txt compiles through ccache when it is installed; the cache mount keeps it between
# builds.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIDECAR_BUILD_TESTS=OFF \
 && cmake --build /build --target socketio-sidecar demo-backend-cpp

# --- runtime: the shared libraries the binaries link (ldd, mapped with dpkg -S), a user ------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libboost-url1.81.0 libhiredis0.14 \
      zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
USER 10001:10001

# --- the sidecar ---------------------------------------------------------------------------
FROM runtime AS sidecar
COPY --from=build /build/sidecar/socketio-sidecar /usr/local/bin/socketio-sidecar
# Socket.IO; gRPC (Backend.Attach and Admin; --grpc_address is 127.0.0.1:50051 unless set);
# /healthz, /readyz and /metrics.
EXPOSE 5000 50051 8081
ENV SIDECAR_LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/socketio-sidecar"]

# --- the C++ demo backend ------------------------------------------------------------------
FROM runtime AS demo-backend-cpp
COPY --from=build /build/examples/cpp/demo/demo-backend-cpp /usr/local/bin/demo-backend-cpp
ENTRYPOINT ["/usr/local/bin/demo-backend-cpp"]

# --- the Go demo backend -------------------------------------------------------------------
FROM ${GO_IMAGE} AS go-build
WORKDIR /src
COPY sdk/go sdk/go
COPY examples/go examples/go
WORKDIR /src/examples/go
RUN --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -o /out/demo-backend ./demo

FROM debian:bookworm-slim AS demo-backend
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=go-build /out/demo-backend /usr/local/bin/demo-backend
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/demo-backend"]

# The default target: the sidecar.
FROM sidecar
