#include "core/audit.h"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace keep {
namespace {

std::shared_mutex sink_mu;
AuditSink& Sink() {
  static AuditSink sink;  // GUARDED_BY(sink_mu)
  return sink;
}

}  // namespace

void SetAuditSink(AuditSink sink) {
  std::unique_lock lock(sink_mu);
  Sink() = std::move(sink);
}

nlohmann::json AuditLine(const AuditRecord& record) {
  const AuditEvent& e = record.event;
  nlohmann::json line = e.details.is_object() ? e.details : nlohmann::json::object();
  line["audit"] = true;
  line["time"] = static_cast<double>(record.time_ms) / 1000.0;
  line["action"] = e.action;
  line["actor"] = e.actor;
  // "user" as earlier releases wrote it (empty for keepd's own actions).
  if (!line.contains("user")) line["user"] = e.actor == kAuditActorKeepd ? "" : e.actor;
  line["source"] = e.source;
  line["namespace"] = e.ns;
  line["target"] = e.target;
  line["outcome"] = e.outcome;
  return line;
}

void Audit(AuditEvent event) {
  AuditRecord record{std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count(),
                     std::move(event)};
  std::string s = AuditLine(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  s += "\n";
  std::fwrite(s.data(), 1, s.size(), stderr);
  std::shared_lock lock(sink_mu);
  if (Sink()) Sink()(std::move(record));
}

}  // namespace keep
