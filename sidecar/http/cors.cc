#include "sidecar/http/cors.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::http {

CorsDecision CheckOrigin(const config::CorsPolicy& policy, std::string_view origin,
                         std::string_view host) {
  using Mode = config::CorsPolicy::Mode;
  if (policy.mode == Mode::kDisabled || origin.empty()) return {true, ""};
  bool allowed = false;
  switch (policy.mode) {
    case Mode::kAny:
      allowed = true;
      break;
    case Mode::kSameOrigin:
      // Exact comparison: a look-alike such as http://host.evil.com must not pass.
      allowed = !host.empty() && (origin == absl::StrCat("http://", runtime::ToAbsl(host)) ||
                                  origin == absl::StrCat("https://", runtime::ToAbsl(host)));
      break;
    case Mode::kList:
      allowed =
          std::find(policy.origins.begin(), policy.origins.end(), origin) != policy.origins.end();
      break;
    case Mode::kDisabled:
      break;
  }
  if (!allowed) return {false, ""};
  return {true, std::string(origin)};
}

}  // namespace sidecar::http
