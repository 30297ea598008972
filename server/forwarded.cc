#include "server/forwarded.h"

#include "core/range.h"

#include <boost/beast/core/string.hpp>

#include <vector>

namespace keep::server {
namespace {

namespace http = boost::beast::http;

// The comma-separated items of every field named `name`, in order.
std::vector<std::string_view> Items(const http::request_header<>& request, std::string_view name) {
  std::vector<std::string_view> items;
  for (const auto& field : request) {
    if (!boost::beast::iequals(field.name_string(), name)) continue;
    std::string_view value = field.value();
    while (true) {
      auto comma = value.find(',');
      items.push_back(TrimOws(value.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return items;
}

}  // namespace

Origin OriginOf(const http::request_header<>& request, std::string_view peer, bool tls,
                const AddressSet& trusted) {
  Origin o{std::string(peer), tls ? "https" : "http", std::string(request[http::field::host])};
  if (trusted.empty() || !trusted.Contains(peer)) return o;

  auto chain = Items(request, "X-Forwarded-For");
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto address = ParseIpAddress(*it);
    if (!address) break;
    o.client = std::string(*it);
    if (!trusted.Contains(*address)) break;
  }
  if (auto proto = Items(request, "X-Forwarded-Proto"); !proto.empty()) {
    if (boost::beast::iequals(proto.back(), "https")) o.scheme = "https";
    if (boost::beast::iequals(proto.back(), "http")) o.scheme = "http";
  }
  if (auto host = Items(request, "X-Forwarded-Host"); !host.empty() && !host.back().empty()) {
    o.host = std::string(host.back());
  }
  return o;
}

}  // namespace keep::server
