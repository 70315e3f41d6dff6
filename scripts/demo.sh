#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: the sidecar (in-memory, no Redis) serving
# the demo page, plus an example backend attached over gRPC. Ctrl-C stops both.
#   scripts/demo.sh           run until Ctrl-C
#   scripts/demo.sh --check   start everything, check the handshake and the page, then stop
# Every setting below can be overridden from the environment, e.g. PORT=8080 scripts/demo.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
GRPC_ADDRESS="${GRPC_ADDRESS:-127.0.0.1:50051}"
OPS_PORT="${OPS_PORT:-8081}"
STATIC_DIR="${STATIC_DIR:-examples/web}"
SIDECAR="${SIDECAR:-${BUILD_DIR}/sidecar/socketio-sidecar}"
# The example backend: a Go main package under GO_EXAMPLES_DIR is preferred, else an executable
# built from examples/ into CPP_EXAMPLES_DIR, else the end-to-end test backend. Set
# EXAMPLE_BACKEND to a Go package folder or an executable to choose one; it is told the
# sidecar's gRPC address in $SIDECAR_ADDRESS.
EXAMPLE_BACKEND="${EXAMPLE_BACKEND:-}"
GO_EXAMPLES_DIR="${GO_EXAMPLES_DIR:-examples/go}"
CPP_EXAMPLES_DIR="${CPP_EXAMPLES_DIR:-${BUILD_DIR}/examples}"
EXAMPLE_BACKEND_ARGS="${EXAMPLE_BACKEND_ARGS:-}"

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  *) die "usage: scripts/demo.sh [--check]" ;;
esac

# Go main packages under a folder, one per line, preferring the demo (Flask-SocketIO's example).
go_main_packages() {
  [[ -d "$1" ]] || return 0
  grep -rlE --include='*.go' --exclude='*_test.go' '^package main\b' "$1" 2>/dev/null |
    xargs -r -n1 dirname | sort -u | awk '/\/demo$/ { print; next } { rest[++n] = $0 }
      END { for (i = 1; i <= n; i++) print rest[i] }'
}

# Executables built from examples/ (no CMake internals, no libraries).
cpp_example_binaries() {
  [[ -d "$1" ]] || return 0
  find "$1" -name CMakeFiles -prune -o -type f -perm -u+x ! -name '*.so*' -print | sort
}

# Prints the command that runs the example backend, as a Go package folder prefixed "go:" or an
# executable path prefixed "exe:"; prints nothing if there is none.
find_example_backend() {
  if [[ -n "${EXAMPLE_BACKEND}" ]]; then
    if [[ -d "${EXAMPLE_BACKEND}" ]]; then
      echo "go:${EXAMPLE_BACKEND}"
    elif [[ -x "${EXAMPLE_BACKEND}" ]]; then
      echo "exe:${EXAMPLE_BACKEND}"
    else
      die "EXAMPLE_BACKEND=${EXAMPLE_BACKEND} is neither a Go package folder nor an executable"
    fi
    return
  fi
  local candidate
  candidate="$(go_main_packages "${GO_EXAMPLES_DIR}" | head -n 1)"
  if [[ -n "${candidate}" ]] && command -v go >/dev/null 2>&1; then
    echo "go:${candidate}"
    return
  fi
  candidate="$(cpp_example_binaries "${CPP_EXAMPLES_DIR}" | head -n 1)"
  if [[ -n "${candidate}" ]]; then
    echo "exe:${candidate}"
  fi
}

# Builds a Go example into build/demo/ and prints the binary's path. Running the binary rather
# than `go run` lets Ctrl-C and the cleanup below reach the backend itself.
build_go_example() {
  local package_dir="$1"
  local module_dir="${package_dir}"
  while [[ "${module_dir}" != "." && "${module_dir}" != "/" && ! -f "${module_dir}/go.mod" ]]; do
    module_dir="$(dirname "${module_dir}")"
  done
  [[ -f "${module_dir}/go.mod" ]] || die "no go.mod above ${package_dir}"
  local output
  output="${BUILD_DIR}/demo/$(basename "${package_dir}")-backend"
  mkdir -p "${BUILD_DIR}/demo"
  log "go: building ${package_dir}" >&2
  (cd "${module_dir}" && go build -o "${output}" "./${package_dir#"${module_dir}"/}")
  echo "${output}"
}

port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_for_port() {
  local host="$1" port="$2" pid="$3" attempt
  for attempt in $(seq 1 100); do
    port_open "${host}" "${port}" && return 0
    kill -0 "${pid}" 2>/dev/null || return 1
    ((attempt % 20 == 0)) && log "waiting for ${host}:${port}..."
    sleep 0.1
  done
  return 1
}

children=()
# SIGINT, as Ctrl-C would: the sidecar then closes its clients at once instead of draining them
# over --drain_timeout as for SIGTERM.
stop_children() {
  local pid
  for pid in "${children[@]}"; do
    kill -INT "${pid}" 2>/dev/null || true
  done
  for pid in "${children[@]}"; do
    wait "${pid}" 2>/dev/null || true
  done
  children=()
}

check_demo() {
  local base="http://${HOST}:${PORT}"
  local handshake
  handshake="$(curl -fsS "${base}/socket.io/?EIO=4&transport=polling")" ||
    die "no Engine.IO handshake at ${base}/socket.io/"
  [[ "${handshake}" == 0\{* ]] || die "unexpected handshake: ${handshake}"
  log "check: handshake ok: ${handshake}"
  if [[ -d "${STATIC_DIR}" ]]; then
    curl -fsS -o /dev/null "${base}/" || die "the demo page is not served at ${base}/"
    log "check: demo page served at ${base}/"
  fi
  if ((has_backend)); then
    check_namespace_connect "${base}"
  fi
}

# A Socket.IO CONNECT to "/" over polling is accepted only once the backend has attached and
# accepted it, so this checks the whole path: client, sidecar, gRPC, backend.
check_namespace_connect() {
  local base="$1" attempt handshake sid session reply=""
  for attempt in $(seq 1 20); do
    handshake="$(curl -fsS "${base}/socket.io/?EIO=4&transport=polling")" || break
    sid="$(grep -o '"sid":"[^"]*"' <<<"${handshake}" | cut -d'"' -f4)"
    session="${base}/socket.io/?EIO=4&transport=polling&sid=${sid}"
    curl -fsS -o /dev/null -X POST --data-binary 40 "${session}" || break
    reply="$(curl -fsS --max-time 5 "${session}")" || break
    if [[ "${reply}" == 40\{* ]]; then
      log "check: the backend accepted a connection to / (${reply})"
      return 0
    fi
    ((attempt % 5 == 0)) && log "check: waiting for the backend to attach (got ${reply})"
    sleep 0.25
  done
  die "the backend did not accept a connection to / (last reply: ${reply:-none})"
}

main() {
  if [[ "${SKIP_SETUP:-0}" != 1 ]]; then
    scripts/setup.sh
  fi
  scripts/build.sh
  [[ -x "${SIDECAR}" ]] || die "${SIDECAR} was not built"
  if port_open "${HOST}" "${PORT}"; then
    die "${HOST}:${PORT} is already in use; stop what listens there or set PORT"
  fi

  local sidecar_args=(--host="${HOST}" --port="${PORT}" --grpc_address="${GRPC_ADDRESS}"
    --ops_port="${OPS_PORT}")
  if [[ -d "${STATIC_DIR}" ]]; then
    sidecar_args+=(--static_dir="${STATIC_DIR}")
  else
    warn "${STATIC_DIR} does not exist: no demo page will be served"
  fi

  local backend backend_command=()
  has_backend=0
  backend="$(find_example_backend)"
  case "${backend}" in
    go:*) backend_command=("$(build_go_example "${backend#go:}")") ;;
    exe:*) backend_command=("${backend#exe:}") ;;
    *)
      warn "no example backend found: looked for a Go main package under ${GO_EXAMPLES_DIR}/" \
        "and for executables under ${CPP_EXAMPLES_DIR#"${REPO_ROOT}"/}/." \
        "The sidecar runs alone; clients can connect but no events are handled." \
        "Set EXAMPLE_BACKEND to a Go package folder or an executable to use another."
      ;;
  esac
  if [[ -n "${EXAMPLE_BACKEND_ARGS}" ]]; then
    local extra_args
    read -r -a extra_args <<<"${EXAMPLE_BACKEND_ARGS}"
    backend_command+=("${extra_args[@]}")
  fi

  trap 'echo; log "stopping"; stop_children; exit 130' INT
  trap 'stop_children; exit 143' TERM
  trap 'stop_children' EXIT

  log "sidecar: ${SIDECAR#"${REPO_ROOT}"/} ${sidecar_args[*]}"
  "${SIDECAR}" "${sidecar_args[@]}" &
  children+=($!)
  wait_for_port "${HOST}" "${PORT}" "${children[0]}" ||
    die "the sidecar did not start listening on ${HOST}:${PORT}"

  if ((${#backend_command[@]})); then
    log "backend: ${backend_command[*]#"${REPO_ROOT}"/} (SIDECAR_ADDRESS=${GRPC_ADDRESS})"
    SIDECAR_ADDRESS="${GRPC_ADDRESS}" "${backend_command[@]}" &
    children+=($!)
    has_backend=1
  fi

  if ((check_only)); then
    sleep 1
    local pid
    for pid in "${children[@]}"; do
      kill -0 "${pid}" 2>/dev/null || die "a demo process exited early (pid ${pid})"
    done
    check_demo
    return 0
  fi

  echo
  echo "  Demo running: open http://${HOST}:${PORT}/ in a browser. Press Ctrl-C to stop."
  echo
  # Stop everything as soon as one process ends.
  local status=0
  wait -n "${children[@]}" || status=$?
  warn "a demo process exited (status ${status}); stopping the rest"
  return "${status}"
}

main
