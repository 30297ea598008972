// Fuzzes ParseConfig and ParseListen (config/config.h): the JSON config file
// (with comments) and the listen address.
//
// Invariants: an accepted config has every integer within its documented
// bounds; written back as JSON (nested sections) it parses to the same
// Config; "{}" gives the defaults; refusals are kInternal with a message
// that starts "config:". Validate and ParseListen must not crash on what was
// accepted; an accepted listen address has a non-empty host.
#include "config/config.h"
#include "fuzz_check.h"

#include <nlohmann/json.hpp>

namespace {

using namespace keep;
using nlohmann::json;

std::string_view g_input;
#define CHECK(cond) FUZZ_CHECK(cond, g_input)

bool Same(const Config& a, const Config& b) {
  return a.listen == b.listen && a.data_dir == b.data_dir && a.tls_cert == b.tls_cert &&
         a.tls_key == b.tls_key && a.threads == b.threads && a.allow_root == b.allow_root &&
         a.log_requests == b.log_requests && a.max_manifest_bytes == b.max_manifest_bytes &&
         a.max_header_bytes == b.max_header_bytes && a.max_body_bytes == b.max_body_bytes &&
         a.max_connections == b.max_connections &&
         a.header_timeout_seconds == b.header_timeout_seconds &&
         a.idle_timeout_seconds == b.idle_timeout_seconds &&
         a.body_timeout_seconds == b.body_timeout_seconds &&
         a.upload_ttl_hours == b.upload_ttl_hours && a.realm == b.realm &&
         a.credential_cache_seconds == b.credential_cache_seconds;
}

// Every key, as README.md documents it.
json ToJson(const Config& c) {
  return json{
      {"listen", c.listen},
      {"data_dir", c.data_dir},
      {"tls", {{"cert", c.tls_cert}, {"key", c.tls_key}}},
      {"threads", c.threads},
      {"allow_root", c.allow_root},
      {"log", {{"requests", c.log_requests}}},
      {"limits",
       {{"max_manifest_bytes", c.max_manifest_bytes},
        {"max_header_bytes", c.max_header_bytes},
        {"max_body_bytes", c.max_body_bytes},
        {"max_connections", c.max_connections}}},
      {"timeouts",
       {{"header_seconds", c.header_timeout_seconds},
        {"idle_seconds", c.idle_timeout_seconds},
        {"body_seconds", c.body_timeout_seconds}}},
      {"uploads", {{"ttl_hours", c.upload_ttl_hours}}},
      {"auth", {{"realm", c.realm}, {"credential_cache_seconds", c.credential_cache_seconds}}},
  };
}

template <class T>
bool Within(T v, long long lo, long long hi) {
  return static_cast<long long>(v) >= lo && static_cast<long long>(v) <= hi;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keep::fuzz::AsText(data, size);
  g_input = in;
  static const bool defaults_ok = [] {
    auto d = ParseConfig("{}");
    return d && Same(*d, Config{});
  }();
  CHECK(defaults_ok);

  auto c = ParseConfig(in);
  if (!c) {
    CHECK(c.error().code == ErrorCode::kInternal);
    CHECK(c.error().message.rfind("config:", 0) == 0);
  } else {
    CHECK(Within(c->threads, 0, 256));
    CHECK(Within(c->max_manifest_bytes, 1024, 64LL << 20));
    CHECK(Within(c->max_header_bytes, 1024, 1LL << 20));
    CHECK(Within(c->max_body_bytes, 1024, 64LL << 20));
    CHECK(Within(c->max_connections, 1, 1000000));
    CHECK(Within(c->header_timeout_seconds, 1, 3600));
    CHECK(Within(c->idle_timeout_seconds, 1, 86400));
    CHECK(Within(c->body_timeout_seconds, 1, 3600));
    CHECK(Within(c->upload_ttl_hours, 1, 24 * 365));
    CHECK(Within(c->credential_cache_seconds, 0, 3600));

    std::string text = ToJson(*c).dump();
    auto again = ParseConfig(text);
    CHECK(again && Same(*again, *c));

    auto valid = Validate(*c);
    if (valid) CHECK(ParseListen(c->listen));
  }

  if (in.size() <= 512) {
    auto l = ParseListen(in);
    if (l) {
      CHECK(!l->host.empty());
      CHECK(in.find(':') != std::string_view::npos);
    }
  }
  return 0;
}
