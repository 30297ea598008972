// storage/replica_locks.h — Metadata::LockAcrossReplicas: locks by key that
// every keepd on one database sees.
//
// Two layers. In this process, a set of the keys held, so that one request
// at a time holds a key here (PostgreSQL would let a second thread of the
// same session take it again). On PostgreSQL, a session-level advisory lock
// per key, on a connection kept for them (postgres::Database), which other
// replicas' requests find taken. A waiting taker polls for it with a growing
// pause (up to 50 ms), so that no connection is held up by waiting.
//
// A lock dies with its connection: if PostgreSQL restarts or the network
// between keepd and it breaks while a lock is held, another replica may take
// it while the holder goes on. keepd then says so on its log; what the lock
// guards is built to stay safe (a blob deleted under a link is found by the
// integrity check, an upload session written twice fails its digest).
//
// Internal to storage/. Thread-safe.
#pragma once

#include "storage/metadata.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace keep {
namespace postgres {
class Database;
}

class ReplicaLocks {
 public:
  // Without a database, the locks are this process's alone (SQLite).
  explicit ReplicaLocks(postgres::Database* shared) : shared_(shared) {}
  ReplicaLocks(const ReplicaLocks&) = delete;
  ReplicaLocks& operator=(const ReplicaLocks&) = delete;

  [[nodiscard]] Result<std::unique_ptr<ReplicaLock>> Lock(LockKind kind, const std::string& key,
                                                          bool wait);

 private:
  class Held;
  using Key = std::pair<LockKind, std::string>;
  // This process's layer: false without wait when another request holds it.
  bool Enter(const Key& key, bool wait);
  void Leave(const Key& key);

  postgres::Database* shared_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<Key> held_;  // GUARDED_BY(mu_)
};

}  // namespace keep
