// storage/sqlite_db.h — one SQLite database shared by the metadata tables:
// a read connection per thread and one writer, each write a short
// transaction under the writer's lock. Internal to storage/.
//
// Thread-safe: Reader() is per thread; Write() serialises.
#pragma once

#include "core/clock.h"
#include "storage/sqlite.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace keep::sqlite {

inline std::int64_t Now() { return UnixNow(); }

// The Error for a SQLite failure: a full disk is kInsufficientStorage.
Error DbError(const SqliteError& e);

// Runs fn, turning SQLite exceptions into an Error.
template <class F>
auto Guard(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SqliteError& e) {
    return DbError(e);
  }
}

class Database {
 public:
  explicit Database(std::string path)
      : path_(std::move(path)), id_(next_id_.fetch_add(1)), writer_(path_) {}

  // The calling thread's read connection to this database. Opened only on
  // the file the writer made: a thread's first read after the database was
  // moved or deleted fails rather than reading a new empty one.
  Connection& Reader() {
    thread_local std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> conns;
    auto& c = conns[id_];
    if (!c) c = std::make_unique<Connection>(path_, Connection::Open::kExisting);
    return *c;
  }

  // One short write transaction; rolled back if fn throws.
  template <class F>
  Result<void> Write(F&& fn) {
    std::lock_guard lock(write_mu_);
    try {
      writer_.Exec("BEGIN IMMEDIATE");
      try {
        fn(writer_);
        writer_.Exec("COMMIT");
      } catch (...) {
        // On a full disk SQLite has rolled back already; the first error is the one to report.
        if (writer_.InTransaction()) writer_.Exec("ROLLBACK");
        throw;
      }
    } catch (const SqliteError& e) {
      return DbError(e);
    } catch (const ErrorException& e) {
      return e.error;  // a refusal decided inside the transaction (e.g. kConflict)
    }
    return {};
  }

  // For schema setup only, before the database is shared.
  Connection& writer() { return writer_; }
  // The database file's path.
  const std::string& path() const { return path_; }

 private:
  static inline std::atomic<std::uint64_t> next_id_{1};
  std::string path_;
  std::uint64_t id_;
  std::mutex write_mu_;
  Connection writer_;  // GUARDED_BY(write_mu_)
};

}  // namespace keep::sqlite
