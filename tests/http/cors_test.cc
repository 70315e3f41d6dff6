#include "sidecar/http/cors.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sidecar/config/options.h"

namespace sidecar::http {
namespace {

using Mode = config::CorsPolicy::Mode;

config::CorsPolicy Policy(Mode mode, std::vector<std::string> origins = {}) {
  config::CorsPolicy policy;
  policy.mode = mode;
  policy.origins = std::move(origins);
  return policy;
}

struct CorsCase {
  std::string name;
  config::CorsPolicy policy;
  std::string origin;
  std::string host;
  bool allowed;
  // Expected Access-Control-Allow-Origin; empty for no CORS headers.
  std::string allow_origin;
};

class CheckOriginDecides : public ::testing::TestWithParam<CorsCase> {};

TEST_P(CheckOriginDecides, WhetherToAllowAndWhichOriginToEcho) {
  CorsDecision decision = CheckOrigin(GetParam().policy, GetParam().origin, GetParam().host);
  EXPECT_EQ(decision.allowed, GetParam().allowed);
  EXPECT_EQ(decision.allow_origin, GetParam().allow_origin);
}

const config::CorsPolicy kSameOrigin = Policy(Mode::kSameOrigin);

INSTANTIATE_TEST_SUITE_P(
    SameOriginPolicy, CheckOriginDecides,
    ::testing::Values(
        CorsCase{"HttpOriginMatchingHost", kSameOrigin, "http://example.com", "example.com", true,
                 "http://example.com"},
        CorsCase{"HttpsOriginMatchingHost", kSameOrigin, "https://example.com", "example.com", true,
                 "https://example.com"},
        CorsCase{"OriginMatchingHostWithPort", kSameOrigin, "http://example.com:5000",
                 "example.com:5000", true, "http://example.com:5000"},
        CorsCase{"LocalhostWithPort", kSameOrigin, "http://localhost:5000", "localhost:5000", true,
                 "http://localhost:5000"},
        CorsCase{"AbsentOriginFromNonBrowserClient", kSameOrigin, "", "example.com", true, ""},
        CorsCase{"OriginWithoutPortWhenHostHasOne", kSameOrigin, "http://example.com",
                 "example.com:5000", false, ""},
        CorsCase{"OriginWithOtherPort", kSameOrigin, "http://example.com:5001", "example.com:5000",
                 false, ""},
        CorsCase{"OtherDomain", kSameOrigin, "http://evil.com", "example.com", false, ""},
        CorsCase{"LookAlikeWithHostAsPrefix", kSameOrigin, "http://example.com.evil.com",
                 "example.com", false, ""},
        CorsCase{"LookAlikeWithHostAsSuffix", kSameOrigin, "http://evil-example.com", "example.com",
                 false, ""},
        CorsCase{"LookAlikeWithHostAsSuffixWithoutDash", kSameOrigin, "http://evilexample.com",
                 "example.com", false, ""},
        CorsCase{"SubdomainOfHost", kSameOrigin, "http://www.example.com", "example.com", false,
                 ""},
        CorsCase{"HostAsUserInfo", kSameOrigin, "http://example.com@evil.com", "example.com", false,
                 ""},
        CorsCase{"OriginWithPath", kSameOrigin, "http://example.com/", "example.com", false, ""},
        CorsCase{"OtherScheme", kSameOrigin, "ftp://example.com", "example.com", false, ""},
        CorsCase{"SchemeOnly", kSameOrigin, "http://", "", false, ""},
        CorsCase{"NullOrigin", kSameOrigin, "null", "example.com", false, ""},
        CorsCase{"OriginWithoutHostHeader", kSameOrigin, "http://example.com", "", false, ""}),
    [](const auto& info) { return info.param.name; });

const config::CorsPolicy kAnyOrigin = Policy(Mode::kAny);

INSTANTIATE_TEST_SUITE_P(
    AnyOriginPolicy, CheckOriginDecides,
    ::testing::Values(
        CorsCase{"OtherDomainIsEchoed", kAnyOrigin, "http://evil.com", "example.com", true,
                 "http://evil.com"},
        CorsCase{"SameOriginIsEchoed", kAnyOrigin, "http://example.com", "example.com", true,
                 "http://example.com"},
        CorsCase{"NullOriginIsEchoed", kAnyOrigin, "null", "example.com", true, "null"},
        CorsCase{"OriginWithoutHostHeader", kAnyOrigin, "https://app.test", "", true,
                 "https://app.test"},
        CorsCase{"AbsentOriginSendsNoHeaders", kAnyOrigin, "", "example.com", true, ""}),
    [](const auto& info) { return info.param.name; });

const config::CorsPolicy kListed =
    Policy(Mode::kList, {"https://app.example.com", "http://localhost:3000"});

INSTANTIATE_TEST_SUITE_P(
    ListPolicy, CheckOriginDecides,
    ::testing::Values(
        CorsCase{"ListedOrigin", kListed, "https://app.example.com", "api.example.com", true,
                 "https://app.example.com"},
        CorsCase{"OtherListedOrigin", kListed, "http://localhost:3000", "localhost:5000", true,
                 "http://localhost:3000"},
        CorsCase{"ListedHostWithOtherScheme", kListed, "http://app.example.com", "api.example.com",
                 false, ""},
        CorsCase{"ListedHostWithOtherPort", kListed, "http://localhost:3001", "localhost:5000",
                 false, ""},
        CorsCase{"LookAlikeOfListedOrigin", kListed, "https://app.example.com.evil.com",
                 "api.example.com", false, ""},
        CorsCase{"PrefixOfListedOrigin", kListed, "https://app.example.co", "api.example.com",
                 false, ""},
        // Flask-SocketIO: once origins are listed, the server's own origin must be listed too.
        CorsCase{"UnlistedSameOrigin", kListed, "https://api.example.com", "api.example.com", false,
                 ""},
        CorsCase{"NullOrigin", kListed, "null", "api.example.com", false, ""},
        CorsCase{"AbsentOriginSendsNoHeaders", kListed, "", "api.example.com", true, ""}),
    [](const auto& info) { return info.param.name; });

const config::CorsPolicy kDisabled = Policy(Mode::kDisabled);

INSTANTIATE_TEST_SUITE_P(DisabledPolicy, CheckOriginDecides,
                         ::testing::Values(CorsCase{"OtherDomainAllowedWithoutHeaders", kDisabled,
                                                    "http://evil.com", "example.com", true, ""},
                                           CorsCase{"SameOriginAllowedWithoutHeaders", kDisabled,
                                                    "http://example.com", "example.com", true, ""},
                                           CorsCase{"NullOriginAllowedWithoutHeaders", kDisabled,
                                                    "null", "example.com", true, ""},
                                           CorsCase{"AbsentOriginAllowedWithoutHeaders", kDisabled,
                                                    "", "example.com", true, ""}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sidecar::http
