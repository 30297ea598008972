#include "storage/replica_locks.h"

#include "storage/postgres.h"
#include "storage/sql.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace keep {
namespace {

// PostgreSQL's advisory lock spaces, one per kind ("kpl" and a letter).
int SpaceOf(LockKind kind) {
  switch (kind) {
    case LockKind::kBlob: return 0x6b706c62;
    case LockKind::kUpload: return 0x6b706c75;
    case LockKind::kMaintenance: return 0x6b706c6d;
    case LockKind::kStart: return 0x6b706c73;
  }
  return 0x6b706c3f;
}

}  // namespace

class ReplicaLocks::Held final : public ReplicaLock {
 public:
  Held(ReplicaLocks* locks, Key key, std::optional<std::uint64_t> generation)
      : locks_(locks), key_(std::move(key)), generation_(generation) {}
  ~Held() override {
    if (generation_) {
      bool kept = false;
      try {
        kept = locks_->shared_->AdvisoryUnlock(SpaceOf(key_.first), key_.second, *generation_);
      } catch (const sql::DbFailure&) {  // the connection broke: the lock went with it
      }
      if (!kept) {
        std::fprintf(stderr,
                     "keepd: warning: the database lost the lock on %s while this keepd held it "
                     "(the connection to PostgreSQL broke); another replica may have taken it\n",
                     key_.second.c_str());
      }
    }
    locks_->Leave(key_);
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

 private:
  ReplicaLocks* locks_;
  Key key_;
  std::optional<std::uint64_t> generation_;  // of the lock's connection; none on SQLite
};

bool ReplicaLocks::Enter(const Key& key, bool wait) {
  std::unique_lock lock(mu_);
  if (!wait && held_.count(key) != 0) return false;
  cv_.wait(lock, [&] { return held_.count(key) == 0; });
  held_.insert(key);
  return true;
}

void ReplicaLocks::Leave(const Key& key) {
  {
    std::lock_guard lock(mu_);
    held_.erase(key);
  }
  cv_.notify_all();
}

Result<std::unique_ptr<ReplicaLock>> ReplicaLocks::Lock(LockKind kind, const std::string& key,
                                                        bool wait) {
  Key k{kind, key};
  if (!Enter(k, wait)) return std::unique_ptr<ReplicaLock>();
  if (!shared_) return std::unique_ptr<ReplicaLock>(new Held(this, std::move(k), std::nullopt));
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    std::optional<std::uint64_t> generation;
    try {
      generation = shared_->TryAdvisoryLock(SpaceOf(kind), key);
    } catch (const sql::DbFailure& e) {
      Leave(k);
      return sql::DbError(e);
    }
    if (generation) return std::unique_ptr<ReplicaLock>(new Held(this, std::move(k), generation));
    if (!wait) {
      Leave(k);
      return std::unique_ptr<ReplicaLock>();
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace keep
