#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite:
#   lint        shellcheck over the scripts in scripts/ and .ci/
#   ctest       C++ unit and integration tests registered with CTest
#   go          `go test ./...` in every Go module (sdk/go, examples/, tests/)
#   e2e         `npm test` in tests/e2e, with BUILD_DIR exported: socket.io-client (4.x, and
#               2.x with --allow_eio3) against the sidecar with the test backend, the example backends, a Redis cluster, operations
#   browser     `npm test` in tests/browser: the demo and chat pages in headless Chromium
#               (screenshots in tests/browser/artifacts/)
#   demo        `scripts/demo.sh --check` on free ports: the README's demo command still works
#   bench       `bench/run.py --profile smoke`: the benchmarks still run against the sidecar (C++
#               and Go backends), Node, Flask-SocketIO and the floors, and nothing is lost (no
#               timing is asserted)
#   soak        `node --test soak.mjs` in tests/e2e: SOAK_SECONDS (default 150) of connect/disconnect
#               churn over every transport with broadcasts; nothing lost, descriptors back to
#               their baseline, memory within a bound
#   sanitize    an ASan+UBSan build in build-asan/ of the sidecar, the test backend and the unit
#               tests only (the whole tree would not fit CI's time), then the unit tests and the
#               socketio, http, abuse, websocket, eio3 and recovery e2e files against it; any
#               sanitizer report (in LOG_DIR/sanitizer-reports, leaks at exit included) fails the
#               suite
#   fuzz        `scripts/fuzz.sh`: the libFuzzer target of every parser, built with clang, each
#               run for FUZZ_SECONDS (default 30) on its committed corpus; any crash fails
# Every suite runs even when another fails; a summary follows, ending with the line
# `N passed, N failed` (tests where a suite reports them, else the suite as one), and the exit
# status is non-zero if anything failed.
#   scripts/test.sh [SUITE...]   run only the named suites
#   SKIP_SETUP=1                 do not run scripts/setup.sh
#   SKIP_BUILD=1                 do not run scripts/build.sh: test the binaries already in
#                                BUILD_DIR, or those SIDECAR_BIN, TEST_BACKEND_BIN and CPP_DEMO_BIN
#                                name (e.g. copies that a concurrent rebuild cannot replace)
#   SUITE_TIMEOUT=SECONDS        wall-clock limit of each suite (default 600)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

SUITE_TIMEOUT="${SUITE_TIMEOUT:-600}"
CTEST_JOBS="${CTEST_JOBS:-2}"
LOG_DIR="${BUILD_DIR}/test-logs"
ALL_SUITES=(lint ctest go e2e browser demo bench soak sanitize fuzz)

# Where tests find the binaries under test.
export SIDECAR_BIN="${SIDECAR_BIN:-${BUILD_DIR}/sidecar/socketio-sidecar}"
export TEST_BACKEND_BIN="${TEST_BACKEND_BIN:-${BUILD_DIR}/tests/backend/test_backend}"
export CPP_DEMO_BIN="${CPP_DEMO_BIN:-${BUILD_DIR}/examples/cpp/demo/demo-backend-cpp}"

selected_suites=("$@")
((${#selected_suites[@]})) || selected_suites=("${ALL_SUITES[@]}")
for suite in "${selected_suites[@]}"; do
  [[ " ${ALL_SUITES[*]} " == *" ${suite} "* ]] ||
    die "unknown suite '${suite}' (known: ${ALL_SUITES[*]})"
done

suite_selected() {
  [[ " ${selected_suites[*]} " == *" $1 "* ]]
}

# One row per suite: name, status (PASS/FAIL/SKIP), tests passed, tests failed, note.
summary_rows=()
total_passed=0
total_failed=0

record() {
  local name="$1" status="$2" passed="$3" failed="$4" note="${5:-}"
  summary_rows+=("$(printf '  %-18s %-5s %5s passed %5s failed  %s' \
    "${name}" "${status}" "${passed}" "${failed}" "${note}")")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
}

# Last integer captured by an extended regex's first group in a log, or 0.
last_count() {
  local pattern="$1" log_file="$2"
  local match
  match="$(grep -Eo "${pattern}" "${log_file}" | tail -n 1 | grep -Eo '[0-9]+' | head -n 1 || true)"
  printf '%s' "${match:-0}"
}

# Sets `counted_passed` and `counted_failed` from a suite's log, by the runner's own words.
count_tests() {
  local kind="$1" log_file="$2"
  counted_passed=0
  counted_failed=0
  counted_skipped=0
  skip_reason=""
  case "${kind}" in
    bench)
      # run.py ends with "N runs, nothing lost ...", or lists each problem after "FAILED:".
      counted_passed="$(last_count '^[0-9]+ runs, nothing lost' "${log_file}")"
      counted_failed="$(sed -n '/^FAILED:/,$p' "${log_file}" | grep -c ':' || true)"
      counted_failed=$((counted_failed > 0 ? counted_failed - 1 : 0))
      ;;
    fuzz)
      # scripts/fuzz.sh prints "fuzz PASS <target>: ..." or "fuzz FAIL <target>: ..." per target.
      counted_passed="$(grep -c '^fuzz PASS' "${log_file}" || true)"
      counted_failed="$(grep -c '^fuzz FAIL' "${log_file}" || true)"
      ;;
    ctest)
      local total
      total="$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "${log_file}" | tail -n 1 |
        grep -Eo '[0-9]+$' || true)"
      counted_failed="$(last_count '[0-9]+ tests failed out of' "${log_file}")"
      counted_passed=$((${total:-0} - counted_failed))
      ;;
    go)
      counted_passed="$(grep -Ec '^[[:space:]]*--- PASS' "${log_file}" || true)"
      counted_failed="$(grep -Ec '^[[:space:]]*--- FAIL' "${log_file}" || true)"
      ;;
    js)
      # mocha ("3 passing"), node --test ("# pass 3" / "ℹ pass 3"), jest/vitest ("3 passed").
      if grep -Eq '^[[:space:]]*[0-9]+ passing' "${log_file}"; then
        counted_passed="$(last_count '^[[:space:]]*[0-9]+ passing' "${log_file}")"
        counted_failed="$(last_count '^[[:space:]]*[0-9]+ failing' "${log_file}")"
      elif grep -Eq '^(# |ℹ )pass [0-9]+' "${log_file}"; then
        counted_passed="$(last_count '^(# |ℹ )pass [0-9]+' "${log_file}")"
        counted_failed="$(last_count '^(# |ℹ )fail [0-9]+' "${log_file}")"
        # node --test reports tests cut short by a hang or a parent's failure as cancelled.
        local cancelled
        cancelled="$(last_count '^(# |ℹ )cancelled [0-9]+' "${log_file}")"
        counted_failed=$((counted_failed + cancelled))
        # Skipped tests and suites (e.g. no chromium, a C++ demo not built), and the first one's
        # name and reason: "ok 2 - name # SKIP reason" in TAP, "﹣ name (0.1ms) # reason" in spec.
        local skip_pattern='^[[:space:]]*(ok [0-9]+ - .* # SKIP|﹣ .*# )'
        counted_skipped="$(grep -Ec "${skip_pattern}" "${log_file}" || true)"
        skip_reason="$(grep -E "${skip_pattern}" "${log_file}" | head -n 1 | sed -E \
          -e 's/^[[:space:]]*(ok [0-9]+ - |﹣ )//' -e 's/ \([0-9.]+ms\) # / # SKIP /' \
          -e 's/ # SKIP ?/: /' -e 's/: $//' || true)"
      elif grep -Eq 'Tests:? .*[0-9]+ passed' "${log_file}"; then
        counted_passed="$(grep -E 'Tests:? ' "${log_file}" | tail -n 1 | grep -Eo '[0-9]+ passed' |
          grep -Eo '[0-9]+' || true)"
        counted_failed="$(grep -E 'Tests:? ' "${log_file}" | tail -n 1 | grep -Eo '[0-9]+ failed' |
          grep -Eo '[0-9]+' || true)"
        counted_passed="${counted_passed:-0}"
        counted_failed="${counted_failed:-0}"
      fi
      ;;
  esac
}

# run_suite NAME KIND DIR COMMAND...: runs COMMAND in DIR under a time limit, logging to
# LOG_DIR/NAME.log, and records its result.
run_suite() {
  local name="$1" kind="$2" dir="$3"
  shift 3
  local log_name="${name//[\/:]/_}"
  local log_file="${LOG_DIR}/${log_name}.log"
  log "${name}: $* (in ${dir#"${REPO_ROOT}"/})"
  local rc=0
  (cd "${dir}" && timeout -k 30 "${SUITE_TIMEOUT}" "$@") 2>&1 | tee "${log_file}" || rc=$?
  local note=""
  ((rc == 124)) && note="timed out after ${SUITE_TIMEOUT}s"
  count_tests "${kind}" "${log_file}"
  if ((rc != 0 && counted_failed == 0)); then
    # Failed without a test to blame (crash, compile error, timeout): count the suite.
    counted_failed=1
    [[ -n "${note}" ]] || note="exit status ${rc}"
  fi
  if ((counted_skipped > 0)); then
    if ((rc == 0 && counted_passed == 0 && counted_failed == 0)); then
      record "${name}" SKIP 0 0 "${skip_reason}"
      return
    fi
    local which=": "
    ((counted_skipped > 1)) && which=", first "
    note="${counted_skipped} skipped${which}${skip_reason}${note:+; ${note}}"
  fi
  if ((rc == 0 && counted_passed == 0 && counted_failed == 0)); then
    if [[ "${kind}" == ctest ]] && grep -q 'No tests were found' "${log_file}"; then
      record "${name}" SKIP 0 0 "no tests registered"
      return
    fi
    if [[ "${kind}" == go ]] && ! grep -q '^=== RUN' "${log_file}"; then
      record "${name}" PASS 0 0 "builds; no test functions"
      return
    fi
    counted_passed=1
    [[ "${kind}" == demo ]] || note="suite passed; its test count was not recognised"
  fi
  if ((rc == 0)); then
    record "${name}" PASS "${counted_passed}" "${counted_failed}" "${note}"
  else
    record "${name}" FAIL "${counted_passed}" "${counted_failed}" "${note:-see ${log_file}}"
  fi
}

run_shellcheck() {
  local scripts=()
  local file
  for file in "${REPO_ROOT}"/scripts/*.sh "${REPO_ROOT}/.ci/run"; do
    [[ -f "${file}" ]] && scripts+=("${file#"${REPO_ROOT}"/}")
  done
  if ! command -v shellcheck >/dev/null 2>&1; then
    record lint FAIL 0 1 "shellcheck not installed"
    return
  fi
  local passed=0 failed=0
  log "lint: shellcheck ${scripts[*]}"
  for file in "${scripts[@]}"; do
    if shellcheck -x "${file}"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
  if ((failed == 0)); then
    record lint PASS "${passed}" 0
  else
    record lint FAIL "${passed}" "${failed}"
  fi
}

run_ctest() {
  if ((build_ok == 0)); then
    record ctest FAIL 0 1 "not run: the build failed"
    return
  fi
  run_suite ctest ctest "${REPO_ROOT}" \
    ctest --test-dir "${BUILD_DIR}" --output-on-failure -j "${CTEST_JOBS}" --timeout 300
}

run_go() {
  local modules module
  mapfile -t modules < <(find_dirs_with go.mod sdk examples tests bench)
  if ((${#modules[@]} == 0)); then
    record go SKIP 0 0 "no go.mod under sdk/, examples/ or tests/"
    return
  fi
  for module in "${modules[@]}"; do
    local relative="${module#"${REPO_ROOT}"/}"
    # Build first so that packages without tests (examples, commands) are checked too.
    # -count=1: results must not come from Go's cache, since tests may drive built binaries.
    run_suite "go:${relative}" go "${module}" \
      bash -c 'go build -o /dev/null ./... && go test -count=1 -v ./...'
  done
}

# run_npm_suite NAME: `npm test` in tests/NAME, which needs the build.
run_npm_suite() {
  local name="$1"
  local dir="${REPO_ROOT}/tests/${name}"
  if [[ ! -f "${dir}/package.json" ]]; then
    record "${name}" SKIP 0 0 "tests/${name}/package.json not found"
    return
  fi
  local has_test_script='process.exit(require("./package.json").scripts?.test ? 0 : 1)'
  if ! (cd "${dir}" && node -e "${has_test_script}"); then
    record "${name}" SKIP 0 0 "tests/${name}/package.json has no test script"
    return
  fi
  if ((build_ok == 0)); then
    record "${name}" FAIL 0 1 "not run: the build failed"
    return
  fi
  run_suite "${name}" js "${dir}" npm test
}

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
    console.log(s.address().port); s.close(); })'
}

run_demo() {
  if ((build_ok == 0)); then
    record demo FAIL 0 1 "not run: the build failed"
    return
  fi
  local port grpc_port ops_port
  port="$(free_port)"
  grpc_port="$(free_port)"
  ops_port="$(free_port)"
  PORT="${port}" GRPC_ADDRESS="127.0.0.1:${grpc_port}" OPS_PORT="${ops_port}" SKIP_SETUP=1 \
    run_suite demo demo "${REPO_ROOT}" scripts/demo.sh --check
}

run_bench() {
  if ((build_ok == 0)); then
    record bench FAIL 0 1 "not run: the build failed"
    return
  fi
  run_suite bench bench "${REPO_ROOT}" bench/run.py --profile smoke \
    --json "${LOG_DIR}/bench-smoke.json"
}

run_soak() {
  if ((build_ok == 0)); then
    record soak FAIL 0 1 "not run: the build failed"
    return
  fi
  run_suite soak js "${REPO_ROOT}/tests/e2e" env SOAK_SECONDS="${SOAK_SECONDS:-150}" \
    node --test soak.mjs
}

run_sanitize() {
  local asan_dir="${REPO_ROOT}/build-asan"
  local reports="${LOG_DIR}/sanitizer-reports"
  log "sanitize: building ${asan_dir#"${REPO_ROOT}"/} with ASan and UBSan"
  if ! SANITIZE=1 BUILD_DIR="${asan_dir}" "${REPO_ROOT}/scripts/build.sh" \
    --target socketio-sidecar test_backend sidecar_unit_tests; then
    record sanitize FAIL 0 1 "the ASan build failed"
    return
  fi
  rm -rf "${reports}"
  mkdir -p "${reports}"
  # Reports go to files, one per process, so that a sidecar's report (e.g. leaks found when it
  # exits) fails the suite even though the test that ran it passed.
  local sanitizer_env=(
    ASAN_OPTIONS="log_path=${reports}/asan:detect_leaks=1"
    UBSAN_OPTIONS="log_path=${reports}/ubsan:print_stacktrace=1"
    SIDECAR_BIN="${asan_dir}/sidecar/socketio-sidecar"
    TEST_BACKEND_BIN="${asan_dir}/tests/backend/test_backend"
  )
  # Only the unit tests were built: leave out the placeholders CTest keeps for the others.
  run_suite sanitize:unit ctest "${REPO_ROOT}" env "${sanitizer_env[@]}" \
    ctest --test-dir "${asan_dir}" --output-on-failure -j "${CTEST_JOBS}" --timeout 300 \
    -E '_NOT_BUILT$'
  run_suite sanitize:e2e js "${REPO_ROOT}/tests/e2e" env "${sanitizer_env[@]}" BUILD_DIR="${asan_dir}" \
    node --test --test-concurrency=1 socketio.test.mjs http.test.mjs abuse.test.mjs \
    websocket.test.mjs eio3.test.mjs recovery.test.mjs
  local found
  found="$(find "${reports}" -type f | wc -l)"
  if ((found == 0)); then
    record sanitize:reports PASS 1 0 "no sanitizer report"
  else
    log "sanitize: ${found} sanitizer reports; the first:"
    find "${reports}" -type f | head -n 1 | xargs head -n 40
    record sanitize:reports FAIL 0 "${found}" "sanitizer reports in ${reports#"${REPO_ROOT}"/}"
  fi
}

run_fuzz() {
  run_suite fuzz fuzz "${REPO_ROOT}" env FUZZ_ARTIFACTS="${LOG_DIR}/fuzz-artifacts" \
    "${REPO_ROOT}/scripts/fuzz.sh"
}

main() {
  local started=${SECONDS}
  if [[ "${SKIP_SETUP:-0}" != 1 ]]; then
    "${REPO_ROOT}/scripts/setup.sh"
  fi

  build_ok=1
  if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
    log "build: skipped (SKIP_BUILD=1); testing ${SIDECAR_BIN#"${REPO_ROOT}"/}"
  elif suite_selected ctest || suite_selected e2e || suite_selected browser ||
    suite_selected demo || suite_selected bench || suite_selected soak; then
    if ! "${REPO_ROOT}/scripts/build.sh"; then
      build_ok=0
      record build FAIL 0 1 "scripts/build.sh failed"
    fi
  fi
  mkdir -p "${LOG_DIR}"

  local suite
  for suite in "${selected_suites[@]}"; do
    case "${suite}" in
      lint) run_shellcheck ;;
      ctest) run_ctest ;;
      go) run_go ;;
      e2e) run_npm_suite e2e ;;
      browser) run_npm_suite browser ;;
      demo) run_demo ;;
      bench) run_bench ;;
      soak) run_soak ;;
      sanitize) run_sanitize ;;
      fuzz) run_fuzz ;;
    esac
  done

  echo
  echo "== test summary ($((SECONDS - started))s; logs in ${LOG_DIR#"${REPO_ROOT}"/}) =="
  printf '%s\n' "${summary_rows[@]}"
  echo
  # The closing line CI reads; it counts tests (skipped suites show in the table above).
  echo "${total_passed} passed, ${total_failed} failed"
  ((total_failed == 0))
}

main
