#!/usr/bin/env bash
# Configures (once) and builds the C++ tree with Ninja into build/.
#   JOBS=N           parallel compile jobs (default 2: the machine has 2 cores)
#   BUILD_DIR=DIR    build tree (default build/)
#   BUILD_TYPE=T     CMAKE_BUILD_TYPE at first configure (default RelWithDebInfo)
#   SANITIZE=1       ASan+UBSan build; use with its own BUILD_DIR, e.g. build-asan
#   CI=true          warnings are errors (-DSIDECAR_WERROR=ON)
#   FUZZ=1           only the libFuzzer targets of tests/fuzz, with clang; use with its own
#                    BUILD_DIR, e.g. build-fuzz (scripts/fuzz.sh does both)
# Extra arguments are passed to `cmake --build`, e.g. `scripts/build.sh --target socketio-sidecar`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JOBS="${JOBS:-2}"
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
# ccache's cache outlives build trees and fresh clones; CMakeLists.txt picks ccache up.
export CCACHE_DIR="${CCACHE_DIR:-${HOME}/.cache/ccache}"
mkdir -p "${CCACHE_DIR}"
# Share the cache between clones and worktrees: paths under the repository are hashed relative
# to it, and the build directory is left out of the hash (debug info keeps the absolute paths of
# whichever clone compiled first, which only matters to a debugger).
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-${REPO_ROOT}}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"

cmake_options=()
if [[ "${CI:-}" == "true" ]]; then
  cmake_options+=(-DSIDECAR_WERROR=ON)
fi
if [[ "${SANITIZE:-0}" == "1" ]]; then
  cmake_options+=(-DSIDECAR_SANITIZE=ON)
fi
if [[ "${FUZZ:-0}" == "1" ]]; then
  # libFuzzer comes with clang; CMake reads CC and CXX when it first configures a tree.
  cmake_options+=(-DSIDECAR_FUZZ=ON)
  export CC=clang CXX=clang++
fi

cache_file="${BUILD_DIR}/CMakeCache.txt"

# Reconfigure only when there is no Ninja tree yet or a requested option differs from the cache;
# otherwise `cmake --build` re-runs CMake itself when a CMakeLists.txt changes.
needs_configure() {
  [[ -f "${BUILD_DIR}/build.ninja" && -f "${cache_file}" ]] || return 0
  grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "${cache_file}" || return 0
  local option name value
  for option in "${cmake_options[@]}"; do
    name="${option#-D}"
    name="${name%%=*}"
    value="${option#*=}"
    grep -qx "${name}:BOOL=${value}" "${cache_file}" || return 0
  done
  return 1
}

if needs_configure; then
  if [[ -f "${cache_file}" ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "${cache_file}"; then
    warn "${BUILD_DIR} was configured with another generator; starting it afresh"
    rm -rf "${cache_file}" "${BUILD_DIR}/CMakeFiles"
  fi
  log "cmake: configuring ${BUILD_DIR#"${REPO_ROOT}"/}" \
    "(${BUILD_TYPE}${cmake_options[*]:+ ${cmake_options[*]}})"
  cmake -S "${REPO_ROOT}" -B "${BUILD_DIR}" -G Ninja \
    -DCMAKE_BUILD_TYPE="${BUILD_TYPE}" "${cmake_options[@]}"
fi

log "cmake: building with ${JOBS} jobs"
cmake --build "${BUILD_DIR}" -j "${JOBS}" "$@"
