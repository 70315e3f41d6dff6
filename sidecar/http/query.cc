#include "sidecar/http/query.h"

#include <boost/url/parse.hpp>

namespace sidecar::http {

std::optional<EngineIoQuery> ParseEngineIoQuery(std::string_view target) {
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  EngineIoQuery query;
  for (const auto& param : url->params()) {
    if (param.key == "EIO") query.eio = param.value;
    if (param.key == "transport") query.transport = param.value;
    if (param.key == "sid") query.sid = param.value;
    query.params.emplace_back(param.key, param.value);
  }
  return query;
}

}  // namespace sidecar::http
