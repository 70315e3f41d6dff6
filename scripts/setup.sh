#!/usr/bin/env bash
# Installs what building, testing and the demo need. Idempotent: a second run checks the
# installed state locally and does no network work.
#   apt packages (as root), npm dependencies under tests/ and examples/, Go modules.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APT_PACKAGES=(
  # C++ toolchain pieces and libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost1.81-dev libboost-url1.81-dev libabsl-dev nlohmann-json3-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # SHA-1 for the WebSocket handshake (sidecar/http/websocket_codec.cc)
  libssl-dev
  ccache ninja-build
  # libFuzzer (scripts/fuzz.sh)
  clang libclang-rt-14-dev
  # cluster mode
  redis-server libhiredis-dev
  # benchmarks: Flask-SocketIO on eventlet beside the sidecar and Node
  python3-flask-socketio python3-eventlet
  # end-to-end tests in a real browser
  chromium
  # lint of these scripts
  shellcheck
)

apt_missing_packages() {
  local package
  for package in "${APT_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "${package}" 2>/dev/null)" != ii* ]]; then
      printf '%s\n' "${package}"
    fi
  done
}

install_apt_packages() {
  local missing
  mapfile -t missing < <(apt_missing_packages)
  if ((${#missing[@]} == 0)); then
    log "apt: all ${#APT_PACKAGES[@]} packages installed"
    return
  fi
  log "apt: installing ${missing[*]}"
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Other jobs on the machine may hold the dpkg lock for a while; wait rather than fail.
  # Recommended packages stay in (fonts for chromium's screenshots, among others), as on the
  # machines the tests were written on.
  local apt_options=(-o DPkg::Lock::Timeout=600 -y -q)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update
  "${sudo[@]}" apt-get install "${apt_options[@]}" "${missing[@]}"
}

# npm ci (or npm install without a lock file) in every package.json folder under tests/,
# examples/ and bench/, skipped when node_modules was installed from the same package.json and lock file.
install_npm_packages() {
  local dirs dir
  mapfile -t dirs < <(find_dirs_with package.json tests examples bench)
  if ((${#dirs[@]} == 0)); then
    log "npm: no package.json under tests/, examples/ or bench/, nothing to install"
    return
  fi
  command -v npm >/dev/null 2>&1 || die "npm not found (Node 20 is expected on this machine)"
  for dir in "${dirs[@]}"; do
    local relative="${dir#"${REPO_ROOT}"/}"
    local stamp_file="${dir}/node_modules/.sidecar-install-stamp"
    local inputs=("${dir}/package.json")
    [[ -f "${dir}/package-lock.json" ]] && inputs+=("${dir}/package-lock.json")
    local stamp
    stamp="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"
    if [[ -f "${stamp_file}" && "$(cat "${stamp_file}")" == "${stamp}" ]]; then
      log "npm: ${relative} up to date"
      continue
    fi
    if [[ -f "${dir}/package-lock.json" ]]; then
      log "npm: npm ci in ${relative}"
      (cd "${dir}" && npm ci --no-audit --no-fund)
    else
      # No lock file yet: install without writing one into the source tree.
      log "npm: npm install in ${relative} (no package-lock.json)"
      (cd "${dir}" && npm install --no-audit --no-fund --no-package-lock)
    fi
    mkdir -p "${dir}/node_modules"
    printf '%s\n' "${stamp}" >"${stamp_file}"
  done
}

# go mod download for the SDK and any Go example or test module. With the module cache filled
# this does no network work.
install_go_modules() {
  local dirs dir
  mapfile -t dirs < <(find_dirs_with go.mod sdk examples tests bench)
  if ((${#dirs[@]} == 0)); then
    log "go: no go.mod found, nothing to download"
    return
  fi
  command -v go >/dev/null 2>&1 || die "go not found (expected in /usr/local/go/bin)"
  for dir in "${dirs[@]}"; do
    log "go: go mod download in ${dir#"${REPO_ROOT}"/}"
    (cd "${dir}" && go mod download)
  done
}

main() {
  install_apt_packages
  install_npm_packages
  install_go_modules
}

main "$@"
