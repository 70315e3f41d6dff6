# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# Go lives in /usr/local/go on our machines, which a non-login shell may not have on PATH.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:${PATH}"
fi
# `go install` puts tools in GOPATH/bin.
if [[ -d "${HOME}/go/bin" && ":${PATH}:" != *":${HOME}/go/bin:"* ]]; then
  PATH="${PATH}:${HOME}/go/bin"
fi
export PATH
# Never download another Go toolchain: a go.mod asking for one should fail loudly.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

# Browsers come from Debian's chromium; npm packages must not fetch their own.
export PUPPETEER_SKIP_DOWNLOAD="${PUPPETEER_SKIP_DOWNLOAD:-1}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="${PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD:-1}"
if [[ -x /usr/bin/chromium ]]; then
  export CHROME_BIN="${CHROME_BIN:-/usr/bin/chromium}"
  export PUPPETEER_EXECUTABLE_PATH="${PUPPETEER_EXECUTABLE_PATH:-/usr/bin/chromium}"
fi

BUILD_DIR="${BUILD_DIR:-${REPO_ROOT}/build}"
export BUILD_DIR

log() {
  printf '\033[1m==> %s\033[0m\n' "$*" >&2
}

warn() {
  printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2
}

die() {
  printf '\033[1;31merror:\033[0m %s\n' "$*" >&2
  exit 1
}

# Directories under the given roots holding a file named $1, skipping node_modules and build
# trees. Prints one directory per line, sorted; prints nothing for roots that do not exist.
find_dirs_with() {
  local file_name="$1"
  shift
  local roots=()
  local root
  for root in "$@"; do
    [[ -d "${REPO_ROOT}/${root}" ]] && roots+=("${REPO_ROOT}/${root}")
  done
  ((${#roots[@]})) || return 0
  find "${roots[@]}" \( -name node_modules -o -name build -o -name .git \) -prune -o \
    -type f -name "${file_name}" -printf '%h\n' | sort -u
}
