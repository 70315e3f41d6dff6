#include "sidecar/config/options.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/runtime/log.h"

namespace sidecar::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// --- ParseCorsPolicy -------------------------------------------------------------

struct CorsPolicyCase {
  std::string name;
  std::string value;
  CorsPolicy::Mode mode;
  std::vector<std::string> origins;
};

class ParseCorsPolicyReads : public ::testing::TestWithParam<CorsPolicyCase> {};

TEST_P(ParseCorsPolicyReads, FlaskSocketIosCorsAllowedOrigins) {
  CorsPolicy policy = ParseCorsPolicy(GetParam().value);
  EXPECT_EQ(policy.mode, GetParam().mode);
  EXPECT_EQ(policy.origins, GetParam().origins);
}

INSTANTIATE_TEST_SUITE_P(
    Values, ParseCorsPolicyReads,
    ::testing::Values(
        CorsPolicyCase{"EmptyAsSameOrigin", "", CorsPolicy::Mode::kSameOrigin, {}},
        CorsPolicyCase{"WhitespaceAsSameOrigin", " \t ", CorsPolicy::Mode::kSameOrigin, {}},
        CorsPolicyCase{"StarAsAnyOrigin", "*", CorsPolicy::Mode::kAny, {}},
        CorsPolicyCase{"StarWithWhitespaceAsAnyOrigin", " * ", CorsPolicy::Mode::kAny, {}},
        CorsPolicyCase{"EmptyListAsDisabled", "[]", CorsPolicy::Mode::kDisabled, {}},
        CorsPolicyCase{
            "EmptyListWithWhitespaceAsDisabled", " [] ", CorsPolicy::Mode::kDisabled, {}},
        CorsPolicyCase{"OneOrigin",
                       "https://app.example.com",
                       CorsPolicy::Mode::kList,
                       {"https://app.example.com"}},
        CorsPolicyCase{"SeveralOrigins",
                       "https://a.example.com,http://localhost:3000",
                       CorsPolicy::Mode::kList,
                       {"https://a.example.com", "http://localhost:3000"}},
        CorsPolicyCase{"SeveralOriginsWithSpacesAndEmptyItems",
                       " https://a.example.com ,  http://b.example.com ,, ,",
                       CorsPolicy::Mode::kList,
                       {"https://a.example.com", "http://b.example.com"}},
        CorsPolicyCase{"NullOriginListedExplicitly", "null", CorsPolicy::Mode::kList, {"null"}}),
    [](const auto& info) { return info.param.name; });

// --- ParseOptions ------------------------------------------------------------------
//
// ParseOptions sets Abseil's process-wide usage message, which may be set once per
// process, and it writes global flags. So every call below runs in a child process
// (a gtest death test) that prints what it parsed on stderr; the parent then checks
// that text. Environment variables are set inside the child, too.

std::string ModeName(CorsPolicy::Mode mode) {
  switch (mode) {
    case CorsPolicy::Mode::kSameOrigin:
      return "same-origin";
    case CorsPolicy::Mode::kAny:
      return "any";
    case CorsPolicy::Mode::kDisabled:
      return "disabled";
    case CorsPolicy::Mode::kList:
      return "list";
  }
  return "?";
}

const char* Bool(bool value) { return value ? "true" : "false"; }

std::string LogLevelName(runtime::LogLevel level) {
  constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
  return kNames[static_cast<int>(level)];
}

// One `name=value` line per option, each line ended by '\n'.
std::string Describe(const Options& options) {
  std::vector<std::string> lines = {
      absl::StrCat("host=", options.host),
      absl::StrCat("port=", options.port),
      absl::StrCat("grpc_address=", options.grpc_address),
      absl::StrCat("path=", options.path),
      absl::StrCat("ping_interval_ms=", options.ping_interval.count()),
      absl::StrCat("ping_timeout_ms=", options.ping_timeout.count()),
      absl::StrCat("max_http_buffer_size=", options.max_http_buffer_size),
      absl::StrCat("allow_upgrades=", Bool(options.allow_upgrades)),
      absl::StrCat("allow_eio3=", Bool(options.allow_eio3)),
      absl::StrCat("allow_polling=", Bool(options.allow_polling)),
      absl::StrCat("allow_websocket=", Bool(options.allow_websocket)),
      absl::StrCat("http_compression=", Bool(options.http_compression)),
      absl::StrCat("compression_threshold=", options.compression_threshold),
      absl::StrCat("cookie=", options.cookie),
      absl::StrCat("cors=", ModeName(options.cors.mode), " ",
                   absl::StrJoin(options.cors.origins, " ")),
      absl::StrCat("cors_credentials=", Bool(options.cors_credentials)),
      absl::StrCat("monitor_clients=", Bool(options.monitor_clients)),
      absl::StrCat("always_connect=", Bool(options.always_connect)),
      absl::StrCat("connect_timeout_ms=", options.connect_timeout.count()),
      absl::StrCat("connect_decision_timeout_ms=", options.connect_decision_timeout.count()),
      absl::StrCat("threads=", options.threads),
      absl::StrCat("static_dir=", options.static_dir),
      absl::StrCat("raw_engineio=", Bool(options.raw_engineio)),
      absl::StrCat("max_outbound_queue=", options.max_outbound_queue),
      absl::StrCat("max_outbound_bytes=", options.max_outbound_bytes),
      absl::StrCat("max_backend_queue_bytes=", options.max_backend_queue_bytes),
      absl::StrCat("connection_state_recovery=", Bool(options.connection_state_recovery)),
      absl::StrCat("recovery_window_ms=", options.recovery_window.count()),
      absl::StrCat("recovery_max_packets=", options.recovery_max_packets),
      absl::StrCat("log_level=", LogLevelName(runtime::MinLogLevel().load())),
  };
  return absl::StrCat("\n", absl::StrJoin(lines, "\n"), "\n");
}

// Runs in the child: sets the environment, parses `args` as the command line of
// socketio-sidecar, and reports on stderr either the options (exit 0) or the error
// (exit 2).
[[noreturn]] void ParseAndReport(std::vector<std::pair<std::string, std::string>> environment,
                                 std::vector<std::string> args) {
  for (const auto& [name, value] : environment) setenv(name.c_str(), value.c_str(), 1);
  std::vector<char*> argv;
  std::string program = "socketio-sidecar";
  argv.push_back(program.data());
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  absl::StatusOr<Options> options = ParseOptions(static_cast<int>(argv.size() - 1), argv.data());
  if (options.ok()) {
    std::fputs(Describe(*options).c_str(), stderr);
  } else {
    std::fputs(absl::StrCat("\nerror: ", options.status().message(), "\n").c_str(), stderr);
  }
  std::fflush(stderr);
  std::_Exit(options.ok() ? 0 : 2);
}

[[noreturn]] void ParseAndReport(std::vector<std::string> args) {
  ParseAndReport({}, std::move(args));
}

bool ExitedWithFailure(int status) { return WIFEXITED(status) && WEXITSTATUS(status) != 0; }

// Abseil's exit code for --help has changed between releases.
bool ExitedNormally(int status) { return WIFEXITED(status); }

class ParseOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Each child re-runs this test alone, so a process never parses twice.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    // Whatever the developer's shell sets must not leak into the children.
    std::vector<std::string> inherited;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      std::string_view variable(*entry);
      if (variable.starts_with("SIDECAR_"))
        inherited.emplace_back(variable.substr(0, variable.find('=')));
    }
    for (const std::string& name : inherited) unsetenv(name.c_str());
  }
};

TEST_F(ParseOptionsTest, DefaultsToFlaskSocketIosValues) {
  EXPECT_EXIT(
      ParseAndReport({}), ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("\nhost=0.0.0.0\n"), HasSubstr("\nport=5000\n"),
            HasSubstr("\ngrpc_address=127.0.0.1:50051\n"), HasSubstr("\npath=/socket.io/\n"),
            HasSubstr("\nping_interval_ms=25000\n"), HasSubstr("\nping_timeout_ms=20000\n"),
            HasSubstr("\nmax_http_buffer_size=1000000\n"), HasSubstr("\nallow_upgrades=true\n"),
            HasSubstr("\nallow_eio3=false\n"), HasSubstr("\nallow_polling=true\n"),
            HasSubstr("\nallow_websocket=true\n"), HasSubstr("\nhttp_compression=true\n"),
            HasSubstr("\ncompression_threshold=1024\n"), HasSubstr("\ncookie=\n"),
            HasSubstr("\ncors=same-origin \n"), HasSubstr("\ncors_credentials=true\n"),
            HasSubstr("\nmonitor_clients=true\n"), HasSubstr("\nalways_connect=false\n"),
            HasSubstr("\nconnect_timeout_ms=45000\n"),
            HasSubstr("\nconnect_decision_timeout_ms=5000\n"), HasSubstr("\nstatic_dir=\n"),
            HasSubstr("\nraw_engineio=false\n"), HasSubstr("\nmax_outbound_queue=1000\n"),
            HasSubstr("\nmax_outbound_bytes=16000000\n"),
            HasSubstr("\nmax_backend_queue_bytes=64000000\n"),
            HasSubstr("\nconnection_state_recovery=false\n"),
            HasSubstr("\nrecovery_window_ms=120000\n"), HasSubstr("\nrecovery_max_packets=10000\n"),
            HasSubstr("\nlog_level=info\n")));
}

TEST_F(ParseOptionsTest, ResolvesZeroThreadsToOnePerCore) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EXIT(ParseAndReport({"--threads=0"}), ::testing::ExitedWithCode(0),
              HasSubstr(absl::StrCat("\nthreads=", cores, "\n")));
}

TEST_F(ParseOptionsTest, TakesEveryOptionFromTheCommandLine) {
  EXPECT_EXIT(
      ParseAndReport({"--host=127.0.0.1",
                      "--port=6001",
                      "--grpc_address=unix:/tmp/sidecar.sock",
                      "--path=/realtime",
                      "--ping_interval=10",
                      "--ping_timeout=2.5",
                      "--max_http_buffer_size=64",
                      "--allow_upgrades=false",
                      "--allow_eio3",
                      "--transports=polling",
                      "--http_compression=false",
                      "--compression_threshold=0",
                      "--cookie=io",
                      "--cors_allowed_origins=https://a.test, https://b.test",
                      "--cors_credentials=false",
                      "--monitor_clients=false",
                      "--always_connect",
                      "--connect_timeout=0.25",
                      "--connect_decision_timeout=1",
                      "--threads=3",
                      "--static_dir=/srv/demo",
                      "--raw_engineio",
                      "--max_outbound_queue=7",
                      "--max_outbound_bytes=4096",
                      "--max_backend_queue_bytes=8192",
                      "--connection_state_recovery",
                      "--recovery_window=2.5",
                      "--recovery_max_packets=50",
                      "--log_level=warning"}),
      ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("\nhost=127.0.0.1\n"), HasSubstr("\nport=6001\n"),
            HasSubstr("\ngrpc_address=unix:/tmp/sidecar.sock\n"), HasSubstr("\npath=/realtime/\n"),
            HasSubstr("\nping_interval_ms=10000\n"), HasSubstr("\nping_timeout_ms=2500\n"),
            HasSubstr("\nmax_http_buffer_size=64\n"), HasSubstr("\nallow_upgrades=false\n"),
            HasSubstr("\nallow_eio3=true\n"), HasSubstr("\nallow_polling=true\n"),
            HasSubstr("\nallow_websocket=false\n"), HasSubstr("\nhttp_compression=false\n"),
            HasSubstr("\ncompression_threshold=0\n"), HasSubstr("\ncookie=io\n"),
            HasSubstr("\ncors=list https://a.test https://b.test\n"),
            HasSubstr("\ncors_credentials=false\n"), HasSubstr("\nmonitor_clients=false\n"),
            HasSubstr("\nalways_connect=true\n"), HasSubstr("\nconnect_timeout_ms=250\n"),
            HasSubstr("\nconnect_decision_timeout_ms=1000\n"), HasSubstr("\nthreads=3\n"),
            HasSubstr("\nstatic_dir=/srv/demo\n"), HasSubstr("\nraw_engineio=true\n"),
            HasSubstr("\nmax_outbound_queue=7\n"), HasSubstr("\nmax_outbound_bytes=4096\n"),
            HasSubstr("\nmax_backend_queue_bytes=8192\n"),
            HasSubstr("\nconnection_state_recovery=true\n"),
            HasSubstr("\nrecovery_window_ms=2500\n"), HasSubstr("\nrecovery_max_packets=50\n"),
            HasSubstr("\nlog_level=warning\n")));
}

TEST_F(ParseOptionsTest, RoundsFractionalSecondsToMilliseconds) {
  EXPECT_EXIT(ParseAndReport({"--ping_interval=0.0015", "--ping_timeout=1.2344"}),
              ::testing::ExitedWithCode(0),
              AllOf(HasSubstr("\nping_interval_ms=2\n"), HasSubstr("\nping_timeout_ms=1234\n")));
}

TEST_F(ParseOptionsTest, TakesOptionsFromSidecarEnvironmentVariables) {
  EXPECT_EXIT(ParseAndReport({{"SIDECAR_PORT", "6002"},
                              {"SIDECAR_PING_INTERVAL", "10"},
                              {"SIDECAR_CORS_ALLOWED_ORIGINS", "*"},
                              {"SIDECAR_ALLOW_UPGRADES", "false"},
                              {"SIDECAR_TRANSPORTS", "websocket"},
                              {"SIDECAR_PATH", "/"}},
                             {}),
              ::testing::ExitedWithCode(0),
              AllOf(HasSubstr("\nport=6002\n"), HasSubstr("\nping_interval_ms=10000\n"),
                    HasSubstr("\ncors=any \n"), HasSubstr("\nallow_upgrades=false\n"),
                    HasSubstr("\nallow_polling=false\n"), HasSubstr("\nallow_websocket=true\n"),
                    HasSubstr("\npath=/\n")));
}

TEST_F(ParseOptionsTest, PrefersTheCommandLineOverTheEnvironment) {
  EXPECT_EXIT(
      ParseAndReport({{"SIDECAR_PORT", "6003"}, {"SIDECAR_HOST", "10.0.0.1"}}, {"--port=7003"}),
      ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("\nport=7003\n"), HasSubstr("\nhost=10.0.0.1\n")));
}

TEST_F(ParseOptionsTest, IgnoresEnvironmentVariablesWithoutTheSidecarPrefix) {
  EXPECT_EXIT(ParseAndReport({{"PORT", "6004"}, {"sidecar_port", "6005"}}, {}),
              ::testing::ExitedWithCode(0), HasSubstr("\nport=5000\n"));
}

TEST_F(ParseOptionsTest, RejectsAnEnvironmentVariableThatDoesNotParseAndNamesIt) {
  EXPECT_EXIT(ParseAndReport({{"SIDECAR_PORT", "not-a-port"}}, {}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: SIDECAR_PORT: "));
}

TEST_F(ParseOptionsTest, RejectsAnEnvironmentPortOutOfRange) {
  EXPECT_EXIT(ParseAndReport({{"SIDECAR_PORT", "70000"}}, {}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: SIDECAR_PORT: "));
}

TEST_F(ParseOptionsTest, SwitchesToDebugLoggingWithLogger) {
  EXPECT_EXIT(ParseAndReport({"--logger"}), ::testing::ExitedWithCode(0),
              HasSubstr("\nlog_level=debug\n"));
}

TEST_F(ParseOptionsTest, SwitchesToDebugLoggingWithEngineioLoggerWhateverTheLogLevel) {
  EXPECT_EXIT(ParseAndReport({"--engineio_logger", "--log_level=error"}),
              ::testing::ExitedWithCode(0), HasSubstr("\nlog_level=debug\n"));
}

TEST_F(ParseOptionsTest, KeepsAtLeastOneQueuedPacketPerConnection) {
  EXPECT_EXIT(ParseAndReport({"--max_outbound_queue=0"}), ::testing::ExitedWithCode(0),
              HasSubstr("\nmax_outbound_queue=1\n"));
}

TEST_F(ParseOptionsTest, AcceptsSixtyFourThreads) {
  EXPECT_EXIT(ParseAndReport({"--threads=64"}), ::testing::ExitedWithCode(0),
              HasSubstr("\nthreads=64\n"));
}

struct PathCase {
  std::string name;
  std::string flag;
  std::string path;
};

class ParseOptionsPath : public ParseOptionsTest, public ::testing::WithParamInterface<PathCase> {};

TEST_P(ParseOptionsPath, IsWrittenWithLeadingAndTrailingSlashes) {
  EXPECT_EXIT(ParseAndReport({"--path=" + GetParam().flag}), ::testing::ExitedWithCode(0),
              HasSubstr("\npath=" + GetParam().path + "\n"));
}

INSTANTIATE_TEST_SUITE_P(Paths, ParseOptionsPath,
                         ::testing::Values(PathCase{"Bare", "socket.io", "/socket.io/"},
                                           PathCase{"LeadingSlash", "/socket.io", "/socket.io/"},
                                           PathCase{"TrailingSlash", "socket.io/", "/socket.io/"},
                                           PathCase{"BothSlashes", "/socket.io/", "/socket.io/"},
                                           PathCase{"Nested", "/api/realtime", "/api/realtime/"},
                                           PathCase{"Root", "/", "/"}, PathCase{"Empty", "", "/"}),
                         [](const auto& info) { return info.param.name; });

struct TransportsCase {
  std::string name;
  std::string flag;
  bool polling;
  bool websocket;
};

class ParseOptionsTransports : public ParseOptionsTest,
                               public ::testing::WithParamInterface<TransportsCase> {};

TEST_P(ParseOptionsTransports, EnableExactlyTheNamedTransports) {
  EXPECT_EXIT(
      ParseAndReport({"--transports=" + GetParam().flag}), ::testing::ExitedWithCode(0),
      AllOf(HasSubstr(absl::StrCat("\nallow_polling=", Bool(GetParam().polling), "\n")),
            HasSubstr(absl::StrCat("\nallow_websocket=", Bool(GetParam().websocket), "\n"))));
}

INSTANTIATE_TEST_SUITE_P(
    Lists, ParseOptionsTransports,
    ::testing::Values(TransportsCase{"PollingOnly", "polling", true, false},
                      TransportsCase{"WebSocketOnly", "websocket", false, true},
                      TransportsCase{"Both", "polling,websocket", true, true},
                      TransportsCase{"BothReversedWithSpaces", " websocket , polling ", true, true},
                      TransportsCase{"Repeated", "websocket,websocket", false, true}),
    [](const auto& info) { return info.param.name; });

struct RejectCase {
  std::string name;
  std::vector<std::string> args;
  std::string reason;
};

class ParseOptionsRejects : public ParseOptionsTest,
                            public ::testing::WithParamInterface<RejectCase> {};

TEST_P(ParseOptionsRejects, WithAnErrorSayingWhy) {
  EXPECT_EXIT(ParseAndReport(GetParam().args), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: " + GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(
    InvalidValues, ParseOptionsRejects,
    ::testing::Values(
        RejectCase{"ZeroPingInterval",
                   {"--ping_interval=0"},
                   "ping_interval must be between 0.001 and 86400 seconds"},
        RejectCase{"NegativePingTimeout",
                   {"--ping_timeout=-1"},
                   "ping_timeout must be between 0.001 and 86400 seconds"},
        RejectCase{"TinyBufferSize",
                   {"--max_http_buffer_size=63"},
                   "max_http_buffer_size must be at least 64 bytes"},
        RejectCase{"UnknownTransport",
                   {"--transports=polling,carrier-pigeon"},
                   "unknown transport: carrier-pigeon"},
        RejectCase{
            "NoTransports", {"--transports="}, "transports must name polling, websocket or both"},
        RejectCase{
            "OnlyCommas", {"--transports=, ,"}, "transports must name polling, websocket or both"},
        RejectCase{"TooManyThreads", {"--threads=65"}, "threads must be at most 64"},
        RejectCase{"UnknownLogLevel", {"--log_level=verbose"}, "unknown log_level: verbose"},
        RejectCase{"ZeroRecoveryWindow",
                   {"--recovery_window=0"},
                   "recovery_window must be between 0.001 and 86400 seconds"},
        RejectCase{"ZeroRecoveryPackets",
                   {"--recovery_max_packets=0"},
                   "recovery_max_packets must be at least 1"},
        RejectCase{"PositionalArgument", {"--port=6000", "extra"}, "unexpected argument: extra"}),
    [](const auto& info) { return info.param.name; });

TEST_F(ParseOptionsTest, ExitsWithAMessageOnAnUnknownFlag) {
  EXPECT_EXIT(ParseAndReport({"--no_such_flag=1"}), ExitedWithFailure, HasSubstr("no_such_flag"));
}

TEST_F(ParseOptionsTest, ExitsWithAMessageOnAFlagValueThatDoesNotParse) {
  EXPECT_EXIT(ParseAndReport({"--port=not-a-port"}), ExitedWithFailure, HasSubstr("not-a-port"));
}

TEST_F(ParseOptionsTest, PrintsTheSidecarsFlagsAndTheEnvironmentConventionOnHelp) {
  // --help writes to stdout; the child sends stdout to stderr so the parent sees it.
  EXPECT_EXIT(
      {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        ParseAndReport({"--help"});
      },
      ExitedNormally,
      AllOf(HasSubstr("socketio-sidecar: serves Socket.IO clients"), HasSubstr("SIDECAR_<FLAG>"),
            HasSubstr("--ping_interval"), HasSubstr("--cors_allowed_origins"),
            Not(HasSubstr("\nerror:")), Not(HasSubstr("\nport="))));
}

// NaN, infinity and huge values must not become nonsense durations.
TEST_F(ParseOptionsTest, RejectsPingTimesThatAreNotFinitePositiveNumbers) {
  EXPECT_EXIT(ParseAndReport({"--ping_interval=nan"}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: "));
  EXPECT_EXIT(ParseAndReport({"--ping_timeout=inf"}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: "));
  EXPECT_EXIT(ParseAndReport({"--ping_interval=1e300"}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: "));
}

// The connect timeouts are durations too, validated like the ping times.
TEST_F(ParseOptionsTest, RejectsConnectTimeoutsThatAreNotFinitePositiveNumbers) {
  EXPECT_EXIT(ParseAndReport({"--connect_timeout=-1"}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: "));
  EXPECT_EXIT(ParseAndReport({"--connect_timeout=nan"}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: "));
  EXPECT_EXIT(ParseAndReport({"--connect_decision_timeout=-5"}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: "));
  EXPECT_EXIT(ParseAndReport({"--connect_decision_timeout=nan"}), ::testing::ExitedWithCode(2),
              HasSubstr("\nerror: "));
}

}  // namespace
}  // namespace sidecar::config
