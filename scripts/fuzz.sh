#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan) into FUZZ_BUILD_DIR and runs
# each on its committed corpus (tests/fuzz/corpus/<target>/) for a bounded time. Inputs the
# fuzzer finds go to a scratch corpus, not into the tree; a crash, leak, sanitizer report or
# timeout fails the target and leaves its input in FUZZ_ARTIFACTS.
#   FUZZ_SECONDS=N       time per target (default 30)
#   FUZZ_BUILD_DIR=DIR   build tree (default build-fuzz/)
#   FUZZ_ARTIFACTS=DIR   where failing inputs go (default FUZZ_BUILD_DIR/artifacts)
#   scripts/fuzz.sh [TARGET...]   run only these (e.g. socketio_packet_fuzzer)
# Prints one line per target, `fuzz PASS <target>: ...` or `fuzz FAIL <target>: ...`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_BUILD_DIR="${FUZZ_BUILD_DIR:-${REPO_ROOT}/build-fuzz}"
FUZZ_ARTIFACTS="${FUZZ_ARTIFACTS:-${FUZZ_BUILD_DIR}/artifacts}"
CORPORA="${REPO_ROOT}/tests/fuzz/corpus"

command -v clang++ >/dev/null 2>&1 || die "clang++ not found (scripts/setup.sh installs clang)"
FUZZ=1 BUILD_DIR="${FUZZ_BUILD_DIR}" "${REPO_ROOT}/scripts/build.sh"

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(find "${CORPORA}" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
fi
((${#targets[@]})) || die "no corpus folders under tests/fuzz/corpus"

mkdir -p "${FUZZ_ARTIFACTS}"
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT

failed=0
for target in "${targets[@]}"; do
  binary="${FUZZ_BUILD_DIR}/tests/fuzz/${target}"
  if [[ ! -x "${binary}" ]]; then
    echo "fuzz FAIL ${target}: ${binary#"${REPO_ROOT}"/} was not built"
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "${scratch}/${target}"
  log "fuzz: ${target} for ${FUZZ_SECONDS}s"
  output="${scratch}/${target}.log"
  rc=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds memory per input.
  timeout -k 10 $((FUZZ_SECONDS + 120)) "${binary}" -max_total_time="${FUZZ_SECONDS}" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="${FUZZ_ARTIFACTS}/${target}-" \
    "${scratch}/${target}" "${CORPORA}/${target}" >"${output}" 2>&1 || rc=$?
  runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "${output}" | grep -Eo '[0-9]+$' || true)"
  if ((rc == 0)); then
    echo "fuzz PASS ${target}: ${runs:-?} runs in ${FUZZ_SECONDS}s, no crash"
  else
    # The fuzzer's own report: the sanitizer's summary and the input it saved.
    grep -E 'ERROR|SUMMARY|Test unit written|deadly signal|timeout' "${output}" | head -n 20 || true
    echo "fuzz FAIL ${target}: exit status ${rc} (log above; inputs in ${FUZZ_ARTIFACTS})"
    failed=$((failed + 1))
  fi
done
((failed == 0))
