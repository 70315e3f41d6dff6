# syntax=docker/dockerfile:1
# Images for socketio-sidecar, from Debian bookworm packages:
#   docker build -t socketio-sidecar .                          # the sidecar (default target)
#   docker build --target demo-backend -t demo-backend .        # the Go demo backend
# Build context: the repository root.

# Debian's Go (1.19) is older than the Go SDK needs; the official Go image is Debian bookworm too.
ARG GO_IMAGE=golang:1.26-bookworm

# --- build: the sidecar, with Debian's gRPC, Protobuf, Boost, Abseil and hiredis ------------
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config \
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
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIDECAR_BUILD_TESTS=OFF \
 && cmake --build /build --target socketio-sidecar demo-backend-cpp

# --- the sidecar: only the shared libraries it links ---------------------------------------
FROM debian:bookworm-slim AS sidecar
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libboost-url1.81.0 libhiredis0.14 \
      zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home sidecar
COPY --from=build /build/sidecar/socketio-sidecar /usr/local/bin/socketio-sidecar
USER 10001
# Socket.IO, gRPC (Backend.Attach and Admin), /healthz /readyz /metrics.
EXPOSE 5000 50051 8081
ENV SIDECAR_HOST=0.0.0.0 SIDECAR_LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/socketio-sidecar"]

# --- the C++ demo backend ------------------------------------------------------------------
FROM sidecar AS demo-backend-cpp
COPY --from=build /build/examples/cpp/demo/demo-backend-cpp /usr/local/bin/demo-backend-cpp
ENTRYPOINT ["/usr/local/bin/demo-backend-cpp"]

# --- the Go demo backend -------------------------------------------------------------------
FROM ${GO_IMAGE} AS go-build
WORKDIR /src
COPY sdk/go sdk/go
COPY examples/go examples/go
RUN cd examples/go && CGO_ENABLED=0 GOTOOLCHAIN=local go build -o /out/demo-backend ./demo

FROM debian:bookworm-slim AS demo-backend
RUN useradd --system --uid 10001 --no-create-home demo
COPY --from=go-build /out/demo-backend /usr/local/bin/demo-backend
USER 10001
ENTRYPOINT ["/usr/local/bin/demo-backend"]

# The default target.
FROM sidecar
