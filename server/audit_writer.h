// server/audit_writer.h — keeps the audit log in the metadata database.
//
// keepd installs Sink() as the audit sink (core/audit.h) at start. Events
// queue in memory and one thread of the writer's own appends them in
// batches, one transaction each, so that a request never waits for the
// audit's write (nor fails with it: a failed write is logged on stderr,
// and the stderr line of every event was written already).
//
// Against a flood (a hostile client asking again and again for what it may
// not pull): refused pulls that repeat (same actor, source, namespace and
// target within kCoalesceSeconds) fold into one row with a count; the
// queue holds at most kQueueLimit events and drops past that (counted, and
// logged); and Prune() deletes what is older than audit.retention_days and
// the oldest past audit.max_events.
//
// Thread-safe: any thread may call Sink()'s function, Flush() and Prune().
#pragma once

#include "config/config.h"
#include "core/audit.h"
#include "storage/metadata.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

namespace keep::server {

class AuditWriter {
 public:
  static constexpr std::int64_t kCoalesceSeconds = 60;
  static constexpr std::size_t kQueueLimit = 10000;

  AuditWriter(Metadata& metadata, const Config& config);
  // Writes what is queued, then stops.
  ~AuditWriter();
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // The sink to install with SetAuditSink.
  AuditSink Sink();
  // Returns once every event queued before the call is written (or failed).
  void Flush();
  // Applies the retention and the cap; logs what it removed. Blocking.
  void Prune();

 private:
  void Submit(AuditRecord record);
  void Run();

  Metadata& metadata_;
  const Config& config_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<AuditRecord> queue_;  // GUARDED_BY(mu_)
  std::uint64_t queued_ = 0;       // GUARDED_BY(mu_): events ever queued
  std::uint64_t written_ = 0;      // GUARDED_BY(mu_): of those, handled by the thread
  std::uint64_t dropped_ = 0;      // GUARDED_BY(mu_): not yet reported
  bool stopping_ = false;          // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace keep::server
