#include "core/metrics.h"

#include "core/clock.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <mutex>

namespace keep::metrics {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

constexpr std::array<std::string_view, kRouteCount> kRouteNames = {
    "base",       "catalog", "tags",  "manifest", "blob",    "upload", "referrers",
    "signatures", "token",   "admin", "health",   "metrics", "other"};
constexpr std::array<std::string_view, kMethodCount> kMethodNames = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OTHER"};

// The status codes keepd answers with; any other counts as "other".
constexpr std::array<int, 21> kCodes = {200, 201, 202, 204, 206, 307, 400, 401, 403, 404, 405,
                                        409, 413, 416, 429, 431, 500, 501, 502, 503, 507};
constexpr std::size_t kCodeSlots = kCodes.size() + 1;

std::size_t CodeSlot(int status) {
  for (std::size_t i = 0; i < kCodes.size(); ++i) {
    if (kCodes[i] == status) return i;
  }
  return kCodes.size();
}

// Upper bounds of the latency buckets, in seconds (+Inf follows).
constexpr std::array<double, 16> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,      2.5,   5,    10,    30,   60,  300};

struct TrustLabel {
  std::string_view decision;
  std::string_view reason;
};
constexpr std::array<TrustLabel, kTrustCount> kTrustLabels = {{
    {"allowed", "signed"},
    {"allowed", "publisher"},
    {"allowed", "open_namespace"},
    {"allowed", "mirror_vetted"},
    {"allowed", "signed"},
    {"allowed", "signature_verified"},
    {"refused", "quarantined"},
    {"refused", "unsigned_manifest"},
    {"refused", "unsigned_blob"},
    {"refused", "signature_unverified"},
    {"refused", "strict_unsigned"},
}};
// The series of the family: a reason may come from more than one Trust.
constexpr std::array<TrustLabel, 10> kTrustSeries = {{
    {"allowed", "signed"},
    {"allowed", "publisher"},
    {"allowed", "open_namespace"},
    {"allowed", "mirror_vetted"},
    {"allowed", "signature_verified"},
    {"refused", "quarantined"},
    {"refused", "unsigned_manifest"},
    {"refused", "unsigned_blob"},
    {"refused", "signature_unverified"},
    {"refused", "strict_unsigned"},
}};

constexpr std::array<std::string_view, kSignatureFormatCount> kFormatNames = {
    "cosign", "sigstore_bundle", "gpg"};
constexpr std::array<std::string_view, kSyncResultCount> kSyncNames = {"ok", "refused", "failed"};
constexpr std::array<std::string_view, kLimitCount> kLimitNames = {
    "address_rate", "user_rate", "concurrent_uploads", "upload_sessions", "upload_bytes"};
constexpr std::array<std::string_view, 5> kTagStates = {"synced", "unchanged", "refused", "held",
                                                        "failed"};

using Counter = std::atomic<std::uint64_t>;

struct RouteFigures {
  std::array<Counter, kBounds.size() + 1> buckets{};  // not cumulative; the last is +Inf's own
  Counter micros{};                                   // the sum of durations
  Counter bytes_in{};
  Counter bytes_out{};
};

struct Registry {
  std::array<Counter, kRouteCount * kMethodCount * kCodeSlots> requests{};
  std::array<RouteFigures, kRouteCount> routes{};
  std::array<Counter, kTrustCount> trust{};
  std::array<Counter, kSignatureFormatCount * 2> signatures{};  // [format][verified]
  std::array<Counter, 2> gc_runs{};                             // failed, ok
  Counter gc_bytes_freed{};
  std::atomic<std::int64_t> gc_last_success{0};
  std::array<Counter, kSyncResultCount> syncs{};
  std::array<Counter, kTagStates.size()> tags{};
  std::array<Counter, kLimitCount> limited{};
  std::atomic<std::int64_t> connections{0};
  std::atomic<std::int64_t> stored_bytes{0};
  std::atomic<std::int64_t> upload_sessions{0};
  std::atomic<std::int64_t> start_time{0};
  std::mutex info_mu;  // guards the two strings below (set once, read per scrape)
  std::string version = "unknown";
  std::string commit = "unknown";
};

Registry& Global() {
  static Registry registry;
  return registry;
}

std::size_t RequestSlot(Route route, Method method, std::size_t code) {
  return (static_cast<std::size_t>(route) * kMethodCount + static_cast<std::size_t>(method)) *
             kCodeSlots +
         code;
}

// A label value, quoted: backslash, double quote and line feed escaped.
void AppendQuoted(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
}

void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc() ? end : buf);
  }
}

void AppendNumber(std::string& out, std::uint64_t v) { out += std::to_string(v); }
void AppendNumber(std::string& out, std::int64_t v) { out += std::to_string(v); }

void Family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;  // written here, free of backslashes and line feeds
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

template <class V>
void Sample(std::string& out, std::string_view name, Labels labels, V value) {
  out += name;
  if (labels.size() > 0) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out += ',';
      first = false;
      out += k;
      out += '=';
      AppendQuoted(out, v);
    }
    out += '}';
  }
  out += ' ';
  AppendNumber(out, value);
  out += '\n';
}

std::string BoundText(double bound) {
  std::string s;
  AppendNumber(s, bound);
  return s;
}

}  // namespace

Method MethodOf(std::string_view name) {
  for (std::size_t i = 0; i + 1 < kMethodCount; ++i) {
    if (kMethodNames[i] == name) return static_cast<Method>(i);
  }
  return Method::kOther;
}

void CountRequest(Route route, Method method, int status, std::uint64_t bytes_in,
                  std::uint64_t bytes_out, double seconds) {
  Registry& r = Global();
  r.requests[RequestSlot(route, method, CodeSlot(status))].fetch_add(1, kRelaxed);
  RouteFigures& f = r.routes[static_cast<std::size_t>(route)];
  std::size_t b = 0;
  while (b < kBounds.size() && seconds > kBounds[b]) ++b;
  f.buckets[b].fetch_add(1, kRelaxed);
  f.micros.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e6), kRelaxed);
  f.bytes_in.fetch_add(bytes_in, kRelaxed);
  f.bytes_out.fetch_add(bytes_out, kRelaxed);
}

void CountTrust(Trust decision) {
  Global().trust[static_cast<std::size_t>(decision)].fetch_add(1, kRelaxed);
}

void CountSignature(SignatureFormat format, bool verified) {
  Global().signatures[static_cast<std::size_t>(format) * 2 + (verified ? 1 : 0)].fetch_add(
      1, kRelaxed);
}

void CountGcRun(bool ok, std::uint64_t bytes_freed) {
  Registry& r = Global();
  r.gc_runs[ok ? 1 : 0].fetch_add(1, kRelaxed);
  r.gc_bytes_freed.fetch_add(bytes_freed, kRelaxed);
  if (ok) r.gc_last_success.store(UnixNow(), kRelaxed);
}

void CountMirrorSync(SyncResult result) {
  Global().syncs[static_cast<std::size_t>(result)].fetch_add(1, kRelaxed);
}

void CountLimited(Limit limit) {
  Global().limited[static_cast<std::size_t>(limit)].fetch_add(1, kRelaxed);
}

void CountMirrorTag(std::string_view state) {
  for (std::size_t i = 0; i < kTagStates.size(); ++i) {
    if (kTagStates[i] == state) Global().tags[i].fetch_add(1, kRelaxed);
  }
}

void ConnectionOpened() { Global().connections.fetch_add(1, kRelaxed); }
void ConnectionClosed() { Global().connections.fetch_sub(1, kRelaxed); }

void SetStorage(std::int64_t stored_bytes, std::int64_t upload_sessions) {
  Global().stored_bytes.store(stored_bytes, kRelaxed);
  Global().upload_sessions.store(upload_sessions, kRelaxed);
}

void SetProcessInfo(std::int64_t start_unix_seconds, std::string_view version,
                    std::string_view commit) {
  Registry& r = Global();
  r.start_time.store(start_unix_seconds, kRelaxed);
  std::lock_guard lock(r.info_mu);
  r.version = std::string(version);
  r.commit = std::string(commit);
}

std::uint64_t RequestCount(Route route, Method method, int status) {
  return Global().requests[RequestSlot(route, method, CodeSlot(status))].load(kRelaxed);
}

std::vector<std::string_view> FamilyNames() {
  return {"keep_build_info",
          "keep_start_time_seconds",
          "keep_open_connections",
          "keep_http_requests_total",
          "keep_http_request_duration_seconds",
          "keep_http_request_bytes_total",
          "keep_http_response_bytes_total",
          "keep_uploads_in_progress",
          "keep_storage_used_bytes",
          "keep_trust_decisions_total",
          "keep_signature_verifications_total",
          "keep_gc_runs_total",
          "keep_gc_bytes_freed_total",
          "keep_gc_last_success_timestamp_seconds",
          "keep_mirror_syncs_total",
          "keep_mirror_tags_total",
          "keep_limited_requests_total"};
}

std::string Render() {
  Registry& r = Global();
  std::string out;
  out.reserve(16 * 1024);

  {
    std::lock_guard lock(r.info_mu);
    Family(out, "keep_build_info", "gauge",
           "The version and commit keepd was built from (always 1).");
    Sample(out, "keep_build_info", {{"version", r.version}, {"commit", r.commit}}, std::int64_t{1});
  }
  Family(out, "keep_start_time_seconds", "gauge", "When keepd started, in unix seconds.");
  Sample(out, "keep_start_time_seconds", {}, r.start_time.load(kRelaxed));
  Family(out, "keep_open_connections", "gauge", "Client connections open now.");
  Sample(out, "keep_open_connections", {}, r.connections.load(kRelaxed));

  // Only the series that counted something: at most routes x methods x codes.
  Family(out, "keep_http_requests_total", "counter",
         "Requests answered, by route template, method and status code.");
  std::array<bool, kRouteCount> route_used{};
  for (std::size_t route = 0; route < kRouteCount; ++route) {
    for (std::size_t method = 0; method < kMethodCount; ++method) {
      for (std::size_t code = 0; code < kCodeSlots; ++code) {
        std::uint64_t n =
            r.requests[RequestSlot(static_cast<Route>(route), static_cast<Method>(method), code)]
                .load(kRelaxed);
        if (n == 0) continue;
        route_used[route] = true;
        std::string code_text = code < kCodes.size() ? std::to_string(kCodes[code]) : "other";
        Sample(
            out, "keep_http_requests_total",
            {{"route", kRouteNames[route]}, {"method", kMethodNames[method]}, {"code", code_text}},
            n);
      }
    }
  }

  Family(out, "keep_http_request_duration_seconds", "histogram",
         "Time from a request's header to the end of its answer, by route template.");
  for (std::size_t route = 0; route < kRouteCount; ++route) {
    if (!route_used[route]) continue;
    const RouteFigures& f = r.routes[route];
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < f.buckets.size(); ++b) {
      cumulative += f.buckets[b].load(kRelaxed);
      std::string le = b < kBounds.size() ? BoundText(kBounds[b]) : "+Inf";
      Sample(out, "keep_http_request_duration_seconds_bucket",
             {{"route", kRouteNames[route]}, {"le", le}}, cumulative);
    }
    Sample(out, "keep_http_request_duration_seconds_sum", {{"route", kRouteNames[route]}},
           static_cast<double>(f.micros.load(kRelaxed)) / 1e6);
    // The +Inf bucket's count, so that the two agree whatever ran meanwhile.
    Sample(out, "keep_http_request_duration_seconds_count", {{"route", kRouteNames[route]}},
           cumulative);
  }

  // A counter of every route used, by route template.
  auto per_route = [&](const char* name, const char* help, Counter RouteFigures::*member) {
    Family(out, name, "counter", help);
    for (std::size_t route = 0; route < kRouteCount; ++route) {
      if (!route_used[route]) continue;
      Sample(out, name, {{"route", kRouteNames[route]}}, (r.routes[route].*member).load(kRelaxed));
    }
  };
  per_route("keep_http_request_bytes_total", "Request body bytes received, by route template.",
            &RouteFigures::bytes_in);
  per_route("keep_http_response_bytes_total", "Response body bytes sent, by route template.",
            &RouteFigures::bytes_out);

  Family(out, "keep_uploads_in_progress", "gauge",
         "Blob upload sessions started and not yet finished or cancelled.");
  Sample(out, "keep_uploads_in_progress", {}, r.upload_sessions.load(kRelaxed));
  Family(out, "keep_storage_used_bytes", "gauge",
         "Bytes of the distinct blobs and manifests the metadata records.");
  Sample(out, "keep_storage_used_bytes", {}, r.stored_bytes.load(kRelaxed));

  Family(out, "keep_trust_decisions_total", "counter",
         "Trust decisions: content served or refused to readers, pushes trusted or quarantined, "
         "signatures accepted or refused.");
  for (const TrustLabel& series : kTrustSeries) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < kTrustCount; ++i) {
      if (kTrustLabels[i].decision == series.decision && kTrustLabels[i].reason == series.reason) {
        n += r.trust[i].load(kRelaxed);
      }
    }
    Sample(out, "keep_trust_decisions_total",
           {{"decision", series.decision}, {"reason", series.reason}}, n);
  }

  Family(out, "keep_signature_verifications_total", "counter",
         "Signatures checked as they were pushed, by format and result.");
  for (std::size_t f = 0; f < kSignatureFormatCount; ++f) {
    for (int verified : {1, 0}) {
      Sample(out, "keep_signature_verifications_total",
             {{"format", kFormatNames[f]}, {"result", verified ? "verified" : "failed"}},
             r.signatures[f * 2 + static_cast<std::size_t>(verified)].load(kRelaxed));
    }
  }

  Family(out, "keep_gc_runs_total", "counter",
         "Garbage collections run (not dry runs), by result.");
  Sample(out, "keep_gc_runs_total", {{"result", "ok"}}, r.gc_runs[1].load(kRelaxed));
  Sample(out, "keep_gc_runs_total", {{"result", "failed"}}, r.gc_runs[0].load(kRelaxed));
  Family(out, "keep_gc_bytes_freed_total", "counter",
         "Bytes of blob files garbage collection deleted.");
  Sample(out, "keep_gc_bytes_freed_total", {}, r.gc_bytes_freed.load(kRelaxed));
  Family(out, "keep_gc_last_success_timestamp_seconds", "gauge",
         "When the last garbage collection that succeeded ended, in unix seconds (0: none yet).");
  Sample(out, "keep_gc_last_success_timestamp_seconds", {}, r.gc_last_success.load(kRelaxed));

  Family(out, "keep_mirror_syncs_total", "counter", "Mirror rule syncs ended, by result.");
  for (std::size_t i = 0; i < kSyncResultCount; ++i) {
    Sample(out, "keep_mirror_syncs_total", {{"result", kSyncNames[i]}}, r.syncs[i].load(kRelaxed));
  }
  Family(out, "keep_mirror_tags_total", "counter",
         "Mirrored tags (syncs and pull-throughs), by what became of them.");
  for (std::size_t i = 0; i < kTagStates.size(); ++i) {
    Sample(out, "keep_mirror_tags_total", {{"state", kTagStates[i]}}, r.tags[i].load(kRelaxed));
  }
  Family(out, "keep_limited_requests_total", "counter",
         "Requests refused with 429 by a rate or upload limit, by limit.");
  for (std::size_t i = 0; i < kLimitCount; ++i) {
    Sample(out, "keep_limited_requests_total", {{"limit", kLimitNames[i]}},
           r.limited[i].load(kRelaxed));
  }
  return out;
}

}  // namespace keep::metrics
