// GET /metrics: what keepd counted (core/metrics.h) in the Prometheus text
// format. Who may read it is decided before (the route table and the
// session: admins, or the scraper's credential); the metrics listener
// (server/metrics_listener.h) serves the same answer without credentials.
#include "core/metrics.h"
#include "server/handlers/handlers.h"

#include <atomic>
#include <chrono>
#include <cstdio>

namespace keep::server::handlers {
namespace {

// The storage figures scan the metadata's links: read again at most this
// often, whatever the number of scrapers.
constexpr std::chrono::seconds kUsageRefresh{15};

// When they were last read (steady clock ticks; 0: never). Process-wide, as
// the figures are.
std::atomic<std::int64_t> usage_read_at{0};

bool UsageIsDue() {
  const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  std::int64_t last = usage_read_at.load(std::memory_order_relaxed);
  const auto refresh =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(kUsageRefresh);
  if (last != 0 && now - last < refresh.count()) return false;
  // One scraper reads them; the others answer with the figures there are.
  return usage_read_at.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

}  // namespace

Awaitable<Reply> MetricsReply(const Services& svc) {
  if (UsageIsDue()) {
    auto usage = co_await Offload(svc, [&] { return svc.metadata.Usage(); });
    if (usage) {
      metrics::SetStorage(usage->stored_bytes, usage->upload_sessions);
    } else {
      std::fprintf(stderr, "keepd: reading the storage figures for /metrics failed: %s\n",
                   usage.error().message.c_str());
    }
  }
  Reply r;
  r.status = http::status::ok;
  r.headers.set(http::field::content_type, metrics::kContentType);
  r.body = metrics::Render();
  co_return r;
}

Awaitable<Result<Reply>> Metrics(Exchange& ex) { co_return co_await MetricsReply(ex.services()); }

}  // namespace keep::server::handlers
