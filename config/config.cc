#include "config/config.h"

#include "core/address.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace keep {
namespace {

using nlohmann::json;

Error Bad(const std::string& key, const std::string& why) {
  return Fail(ErrorCode::kInternal, "config: \"" + key + "\" " + why);
}

// Each key the file may hold: how to read it into a Config.
struct Setter {
  const char* key;
  Result<void> (*set)(const json&, Config&, const std::string& key);
};

template <class T>
Result<void> ReadInt(const json& v, T& out, const std::string& key, long long min, long long max) {
  if (!v.is_number_integer()) return Bad(key, "must be an integer");
  long long n = v.get<long long>();
  if (n < min || n > max) {
    return Bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  out = static_cast<T>(n);
  return {};
}

Result<void> ReadString(const json& v, std::string& out, const std::string& key) {
  if (!v.is_string()) return Bad(key, "must be a string");
  out = v.get<std::string>();
  return {};
}

Result<void> ReadBool(const json& v, bool& out, const std::string& key) {
  if (!v.is_boolean()) return Bad(key, "must be true or false");
  out = v.get<bool>();
  return {};
}

Result<void> ReadStrings(const json& v, std::vector<std::string>& out, const std::string& key) {
  if (!v.is_array()) return Bad(key, "must be a list of strings");
  out.clear();
  for (const auto& item : v) {
    if (!item.is_string()) return Bad(key, "must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return {};
}

#define KEEP_STR(name, field) \
  {name, [](const json& v, Config& c, const std::string& k) { return ReadString(v, c.field, k); }}
#define KEEP_STRS(name, field)                                                                    \
  {                                                                                               \
    name,                                                                                         \
        [](const json& v, Config& c, const std::string& k) { return ReadStrings(v, c.field, k); } \
  }
#define KEEP_BOOL(name, field) \
  {name, [](const json& v, Config& c, const std::string& k) { return ReadBool(v, c.field, k); }}
#define KEEP_INT(name, field, lo, hi) \
  {name, [](const json& v, Config& c, const std::string& k) { return ReadInt(v, c.field, k, lo, hi); }}

const Setter kSetters[] = {
    KEEP_STR("listen", listen),
    KEEP_STR("data_dir", data_dir),
    KEEP_STR("storage.driver", storage_driver),
    KEEP_STR("metadata.driver", metadata_driver),
    KEEP_STR("metadata.postgres.conninfo", postgres_conninfo),
    KEEP_STR("metadata.postgres.password_file", postgres_password_file),
    KEEP_STR("metadata.postgres.schema", postgres_schema),
    KEEP_STR("storage.s3.endpoint", s3_endpoint),
    KEEP_STR("storage.s3.bucket", s3_bucket),
    KEEP_STR("storage.s3.region", s3_region),
    KEEP_STR("storage.s3.prefix", s3_prefix),
    KEEP_BOOL("storage.s3.path_style", s3_path_style),
    KEEP_STR("storage.s3.ca_file", s3_ca_file),
    KEEP_STR("storage.s3.access_key", s3_access_key),
    KEEP_STR("storage.s3.secret_key_file", s3_secret_key_file),
    KEEP_INT("storage.s3.part_size_mib", s3_part_size_mib, 5, 5 * 1024),
    KEEP_INT("storage.s3.timeout_seconds", s3_timeout_seconds, 1, 600),
    KEEP_BOOL("storage.s3.redirect", s3_redirect),
    KEEP_INT("storage.s3.redirect_seconds", s3_redirect_seconds, 10, 7 * 24 * 3600),
    KEEP_STR("tls.cert", tls_cert),
    KEEP_STR("tls.key", tls_key),
    KEEP_STR("tls.client_ca", tls_client_ca),
    KEEP_BOOL("tls.enabled", tls_enabled),
    KEEP_STRS("proxies.trusted", trusted_proxies),
    KEEP_INT("tls.hsts_max_age_seconds", hsts_max_age_seconds, 0, 63072000),
    KEEP_INT("threads", threads, 0, 256),
    KEEP_BOOL("allow_root", allow_root),
    KEEP_STR("user", user),
    KEEP_STR("group", group),
    KEEP_BOOL("security.seccomp", seccomp),
    KEEP_STR("security.seccomp_action", seccomp_action),
    KEEP_BOOL("log.requests", log_requests),
    KEEP_INT("limits.max_manifest_bytes", max_manifest_bytes, 1024, 64LL << 20),
    KEEP_INT("limits.max_header_bytes", max_header_bytes, 1024, 1LL << 20),
    KEEP_INT("limits.max_body_bytes", max_body_bytes, 1024, 64LL << 20),
    KEEP_INT("limits.max_connections", max_connections, 1, 1000000),
    KEEP_INT("limits.max_page_entries", max_page_entries, 1, 1000000),
    KEEP_INT("limits.address_requests_per_second", address_requests_per_second, 0, 10000000),
    KEEP_INT("limits.user_requests_per_second", user_requests_per_second, 0, 10000000),
    KEEP_INT("limits.request_burst", request_burst, 1, 100000000),
    KEEP_INT("limits.uploads_per_user", uploads_per_user, 1, 100000),
    KEEP_INT("limits.upload_sessions_per_user", upload_sessions_per_user, 1, 10000000),
    KEEP_INT("limits.upload_bytes_per_user", upload_bytes_per_user, 1LL << 20, 1LL << 50),
    KEEP_INT("timeouts.header_seconds", header_timeout_seconds, 1, 3600),
    KEEP_INT("timeouts.idle_seconds", idle_timeout_seconds, 1, 86400),
    KEEP_INT("timeouts.body_seconds", body_timeout_seconds, 1, 3600),
    KEEP_INT("timeouts.stop_seconds", stop_timeout_seconds, 0, 3600),
    KEEP_INT("uploads.ttl_hours", upload_ttl_hours, 1, 24 * 365),
    KEEP_INT("gc.interval_hours", gc_interval_hours, 0, 24 * 365),
    KEEP_INT("gc.untagged_grace_hours", gc_untagged_grace_hours, 0, 24 * 365 * 10),
    KEEP_BOOL("gc.delete_untagged", gc_delete_untagged),
    KEEP_INT("integrity.verify_reads_percent", verify_reads_percent, 0, 100),
    KEEP_INT("audit.retention_days", audit_retention_days, 1, 3650),
    KEEP_INT("audit.max_events", audit_max_events, 1000, 100000000),
    KEEP_STR("auth.realm", realm),
    KEEP_INT("auth.credential_cache_seconds", credential_cache_seconds, 0, 3600),
    KEEP_STR("auth.service", service),
    KEEP_STR("auth.token_realm", token_realm),
    KEEP_INT("auth.token_seconds", token_seconds, 30, 86400),
    KEEP_STR("metrics.token_file", metrics_token_file),
    KEEP_STR("metrics.listen", metrics_listen),
};

#undef KEEP_STR
#undef KEEP_STRS
#undef KEEP_BOOL
#undef KEEP_INT

const Setter* FindSetter(const std::string& key) {
  for (const auto& s : kSetters) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

bool IsSection(const std::string& prefix) {
  for (const auto& s : kSetters) {
    if (std::string_view(s.key).substr(0, prefix.size() + 1) == prefix + ".") return true;
  }
  return false;
}

Result<void> Apply(const json& obj, const std::string& prefix, Config& c) {
  for (auto& [k, v] : obj.items()) {
    std::string key = prefix.empty() ? k : prefix + "." + k;
    if (const Setter* s = FindSetter(key)) {
      KEEP_TRY(s->set(v, c, key));
    } else if (IsSection(key)) {
      if (!v.is_object()) return Bad(key, "must be an object");
      KEEP_TRY(Apply(v, key, c));
    } else {
      return Bad(key, "is not a known setting (see the configuration table in README.md)");
    }
  }
  return {};
}

}  // namespace

Result<Config> ParseConfig(std::string_view text) {
  json j = json::parse(text, nullptr, false, /*ignore_comments=*/true);
  if (j.is_discarded()) return Fail(ErrorCode::kInternal, "config: not valid JSON");
  if (!j.is_object()) return Fail(ErrorCode::kInternal, "config: must be a JSON object");
  Config c;
  KEEP_TRY(Apply(j, "", c));
  return c;
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kInternal, "config: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ParseConfig(ss.str());
  if (!c) return Fail(ErrorCode::kInternal, path + ": " + c.error().message);
  return c;
}

Result<void> ApplyEnvironment(Config& c) {
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
  };
  auto boolean = [](const char* name, const char* v, bool& out) -> Result<void> {
    std::string s(v);
    if (s == "1" || s == "true") out = true;
    else if (s == "0" || s == "false") out = false;
    else return Fail(ErrorCode::kInternal, std::string(name) + " must be true or false");
    return {};
  };
  if (auto v = env("KEEP_LISTEN")) c.listen = v;
  if (auto v = env("KEEP_DATA_DIR")) c.data_dir = v;
  if (auto v = env("KEEP_TLS_CERT")) c.tls_cert = v;
  if (auto v = env("KEEP_TLS_KEY")) c.tls_key = v;
  if (auto v = env("KEEP_THREADS")) {
    std::string_view s(v);
    int n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size() || n < 0 || n > 256) {
      return Fail(ErrorCode::kInternal, "KEEP_THREADS must be an integer from 0 to 256");
    }
    c.threads = n;
  }
  if (auto v = env("KEEP_ALLOW_ROOT")) KEEP_TRY(boolean("KEEP_ALLOW_ROOT", v, c.allow_root));
  if (auto v = env("KEEP_LOG_REQUESTS")) KEEP_TRY(boolean("KEEP_LOG_REQUESTS", v, c.log_requests));
  if (auto v = env("KEEP_S3_ACCESS_KEY")) c.s3_access_key = v;
  // A secret from the environment, or else the first line of the file its
  // setting names.
  auto secret = [&](const char* variable, const char* setting, const std::string& file,
                    std::string& out) -> Result<void> {
    if (auto v = env(variable)) out = v;
    if (!out.empty() || file.empty()) return {};
    std::ifstream in(file);
    if (!in || !std::getline(in, out) || out.empty()) {
      return Bad(setting, "names " + file + ", which cannot be read or is empty");
    }
    return {};
  };
  KEEP_TRY(secret("KEEP_S3_SECRET_KEY", "storage.s3.secret_key_file", c.s3_secret_key_file,
                  c.s3_secret_key));
  KEEP_TRY(secret("KEEP_POSTGRES_PASSWORD", "metadata.postgres.password_file",
                  c.postgres_password_file, c.postgres_password));
  return {};
}

Result<ListenAddress> ParseListen(std::string_view listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return Bad("listen", "must be host:port, e.g. 0.0.0.0:5000");
  }
  ListenAddress a;
  std::string_view host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  a.host = host.empty() ? "0.0.0.0" : std::string(host);
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535) {
    return Bad("listen", "has an invalid port \"" + std::string(port) + "\"");
  }
  a.port = static_cast<std::uint16_t>(p);
  return a;
}

Result<void> Validate(const Config& c) {
  KEEP_TRY(ParseListen(c.listen));
  if (c.data_dir.empty()) return Bad("data_dir", "must not be empty");
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return Bad("tls.cert", "and \"tls.key\" must be given together (or neither, for a "
                           "self-signed certificate)");
  }
  for (auto [key, value] : {std::pair{"auth.realm", &c.realm}, std::pair{"auth.service", &c.service},
                             std::pair{"auth.token_realm", &c.token_realm}}) {
    if ((value->empty() && value != &c.token_realm) ||
        value->find_first_of("\"\\\r\n") != std::string::npos) {
      return Bad(key, "must be non-empty and contain no quote, backslash or line break");
    }
  }
  if (c.seccomp_action != "errno" && c.seccomp_action != "kill") {
    return Bad("security.seccomp_action",
               "must be \"errno\" (a forbidden system call fails) "
               "or \"kill\" (keepd is killed with SIGSYS)");
  }
  if (!c.group.empty() && c.user.empty()) {
    return Bad("group", "needs \"user\" too: keepd changes user and group together");
  }
  if (!c.token_realm.empty() && c.token_realm.rfind("https://", 0) != 0) {
    return Bad("auth.token_realm", "must be an https:// URL");
  }
  if (c.storage_driver == "s3") {
    if (c.s3_endpoint.rfind("https://", 0) != 0 && c.s3_endpoint.rfind("http://", 0) != 0) {
      return Bad("storage.s3.endpoint", "must be an http:// or https:// URL of the S3 store");
    }
    if (c.s3_bucket.empty()) return Bad("storage.s3.bucket", "must name the bucket blobs go to");
    if (c.s3_access_key.empty() || c.s3_secret_key.empty()) {
      return Bad("storage.s3.access_key",
                 "and the secret key (storage.s3.secret_key_file, or KEEP_S3_ACCESS_KEY and "
                 "KEEP_S3_SECRET_KEY) must be given for the s3 driver");
    }
    if (!c.s3_prefix.empty() && (c.s3_prefix.front() == '/' || c.s3_prefix.back() != '/')) {
      return Bad("storage.s3.prefix", "must not start with '/' and must end with one (\"keep/\")");
    }
  } else if (c.storage_driver != "filesystem") {
    return Bad("storage.driver", "must be \"filesystem\" or \"s3\"");
  }
  if (c.metadata_driver == "postgres") {
    if (c.postgres_conninfo.empty()) {
      return Bad("metadata.postgres.conninfo",
                 "must say which database to use, e.g. \"host=127.0.0.1 dbname=keep user=keep\"");
    }
    // A password keyword, or a URI's user:password@.
    std::string_view info = c.postgres_conninfo;
    bool uri_password = false;
    if (auto scheme = info.find("://"); scheme != std::string_view::npos) {
      std::string_view rest = info.substr(scheme + 3);
      auto at = rest.find('@');
      uri_password =
          at != std::string_view::npos && rest.substr(0, at).find(':') != std::string_view::npos;
    }
    if (uri_password || info.find("password") != std::string_view::npos) {
      return Bad("metadata.postgres.conninfo",
                 "must not hold the password: give it in KEEP_POSTGRES_PASSWORD or "
                 "metadata.postgres.password_file");
    }
    const std::string& schema = c.postgres_schema;
    bool plain = !schema.empty() && schema.size() <= 63 &&
                 (std::islower(static_cast<unsigned char>(schema[0])) != 0 || schema[0] == '_');
    for (char ch : schema) {
      plain = plain && (std::islower(static_cast<unsigned char>(ch)) != 0 ||
                        std::isdigit(static_cast<unsigned char>(ch)) != 0 || ch == '_');
    }
    if (!plain) {
      return Bad("metadata.postgres.schema",
                 "must be lower-case letters, digits and '_', starting with a letter or '_', "
                 "at most 63 characters");
    }
  } else if (c.metadata_driver != "sqlite") {
    return Bad("metadata.driver", "must be \"sqlite\" or \"postgres\"");
  }
  if (auto proxies = AddressSet::Parse(c.trusted_proxies); !proxies) {
    return Bad("proxies.trusted", "has " + proxies.error().message);
  }
  if (!c.tls_enabled) {
    if (!c.tls_cert.empty() || !c.tls_client_ca.empty()) {
      return Bad("tls.enabled",
                 "is false, so \"tls.cert\", \"tls.key\" and \"tls.client_ca\" "
                 "would not be used: remove them, or turn TLS on");
    }
    // Plain HTTP carries passwords and tokens in the clear: only on
    // loopback, or behind the load balancer that encrypts them.
    auto where = ParseListen(c.listen);
    auto address = ParseIpAddress(where->host);
    if (!(address && address->IsLoopback()) && c.trusted_proxies.empty()) {
      return Bad("tls.enabled",
                 "is false on a listener that is not on loopback: name the load balancers that "
                 "terminate TLS in front of it in \"proxies.trusted\" (their addresses or "
                 "ranges), or keep TLS on");
    }
  }
  if (!c.metrics_listen.empty() && !ParseListen(c.metrics_listen)) {
    return Bad("metrics.listen", "must be host:port, e.g. 127.0.0.1:9102 (or empty for none)");
  }
  return {};
}

}  // namespace keep
