#include "server/audit_writer.h"

#include "core/clock.h"

#include <chrono>
#include <cstdio>
#include <vector>

namespace keep::server {
namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AuditEntry EntryOf(AuditRecord&& r) {
  AuditEntry e;
  e.time_ms = r.time_ms;
  e.last_ms = r.time_ms;
  e.actor = std::move(r.event.actor);
  e.source = std::move(r.event.source);
  e.action = std::move(r.event.action);
  e.ns = std::move(r.event.ns);
  e.target = std::move(r.event.target);
  e.outcome = std::move(r.event.outcome);
  e.details = r.event.details.is_object()
                  ? r.event.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  : "{}";
  e.coalesce = e.action == "pull.refused";
  return e;
}

}  // namespace

AuditWriter::AuditWriter(Metadata& metadata, const Config& config)
    : metadata_(metadata), config_(config), thread_([this] { Run(); }) {}

AuditWriter::~AuditWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

AuditSink AuditWriter::Sink() {
  return [this](AuditRecord r) { Submit(std::move(r)); };
}

void AuditWriter::Submit(AuditRecord record) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kQueueLimit) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(record));
    ++queued_;
  }
  wake_.notify_one();
}

void AuditWriter::Flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = queued_;
  done_.wait(lock, [&] { return written_ >= target || stopping_; });
}

void AuditWriter::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    std::vector<AuditEntry> batch;
    batch.reserve(queue_.size());
    while (!queue_.empty() && batch.size() < 1000) {
      batch.push_back(EntryOf(std::move(queue_.front())));
      queue_.pop_front();
    }
    const std::uint64_t dropped = dropped_;
    dropped_ = 0;
    lock.unlock();
    if (dropped > 0) {
      std::fprintf(stderr,
                   "keepd: audit log: %llu events arrived faster than the database took them "
                   "and were kept on stderr only\n",
                   static_cast<unsigned long long>(dropped));
    }
    auto r = metadata_.AppendAudit(batch, NowMs() - kCoalesceSeconds * 1000);
    if (!r) {
      std::fprintf(stderr,
                   "keepd: audit log: %zu events could not be written to the database (they "
                   "are on stderr only): %s\n",
                   batch.size(), r.error().message.c_str());
    }
    lock.lock();
    written_ += batch.size();
    done_.notify_all();
  }
}

void AuditWriter::Prune() {
  const std::int64_t before =
      NowMs() - static_cast<std::int64_t>(config_.audit_retention_days) * 24 * 3600 * 1000;
  auto r = metadata_.PruneAudit(before, config_.audit_max_events);
  if (!r) {
    std::fprintf(stderr, "keepd: audit log: pruning failed: %s\n", r.error().message.c_str());
  } else if (*r > 0) {
    std::fprintf(stderr,
                 "keepd: audit log: removed %lld events older than %d days or past the newest "
                 "%lld\n",
                 static_cast<long long>(*r), config_.audit_retention_days,
                 static_cast<long long>(config_.audit_max_events));
  }
}

}  // namespace keep::server
