// storage/postgres.h — the PostgreSQL engine of storage/sql.h (libpq), for
// keepd replicas that share one database.
//
// Statements are prepared on the server once per connection; their `?N`
// parameters become `$N`, and the functions SQLite and PostgreSQL spell
// differently are renamed (ToPostgres). Values travel as text, so the
// server infers each parameter's type from where it stands. A connection
// that broke is opened again on its next use, its statements prepared again.
//
// Each write transaction first takes one transaction-level advisory lock:
// writes are one at a time across every keepd on the database, as SQLite's
// are within one, so that what a write checked stays true until it commits.
//
// Internal to storage/. A Connection is used by one thread at a time; the
// Database is thread-safe.
#pragma once

#include "storage/metadata.h"
#include "storage/sql.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

struct pg_conn;
struct pg_result;

namespace keep::postgres {

// SQL as storage/ writes it, for PostgreSQL: `?N` becomes `$N` (a bare `?`
// the next number), group_concat string_agg, instr strpos. Quoted text is
// left alone. `params` is set to
// the highest parameter number.
std::string ToPostgres(std::string_view sql, int& params);

class Statement;

class Connection final : public sql::Connection {
 public:
  explicit Connection(const PostgresOptions& options);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sql::Engine engine() const override { return sql::Engine::kPostgres; }
  sql::Stmt Prepare(const char* sql) override;
  void Exec(const char* sql) override;
  bool InTransaction() const override;
  std::int64_t Changes() const override { return changes_; }
  // Counts the times the connection was opened (0: not yet).
  std::uint64_t generation() const { return generation_; }

 private:
  friend class Statement;
  // Opens the connection again if it broke (the server forgot the
  // statements then); throws kUnreachable when it cannot, and when it broke
  // inside a transaction (whose statements must not go on, unlocked, on a
  // new session).
  void EnsureOpen();
  // The connection is lost (its last command found the server gone).
  bool Broken() const;
  // After a command: whether a transaction is open now, and the rows it changed.
  void Done(pg_result* result);
  // The DbFailure for a failed command, from its SQLSTATE.
  [[noreturn]] void Throw(const std::string& what, pg_result* result);

  PostgresOptions options_;
  pg_conn* conn_ = nullptr;
  std::uint64_t generation_ = 0;  // counts the times it was opened
  std::int64_t changes_ = 0;
  bool in_transaction_ = false;  // as of the last command that got an answer
  std::unordered_map<const char*, std::unique_ptr<Statement>> cache_;
};

class Database final : public sql::Database {
 public:
  // Throws DbFailure when options.schema is not a plain name.
  explicit Database(const PostgresOptions& options);

  sql::Engine engine() const override { return sql::Engine::kPostgres; }
  Connection& Reader() override;
  Connection& writer() override { return writer_; }
  const std::string& schema() const { return options_.schema; }

  // Session-level advisory locks, on a connection of their own, that every
  // keepd on the database sees: one space per `space`, the key hashed with
  // the schema's name. PostgreSQL lets one session take a lock it holds again,
  // so the caller makes sure one thread of this process asks at a time per key.
  // Locks die with the connection: TryAdvisoryLock returns the connection's
  // generation when it took the lock (nullopt: another session holds it),
  // and AdvisoryUnlock returns false when that connection broke since (the
  // lock went with it).
  std::optional<std::uint64_t> TryAdvisoryLock(int space, const std::string& key);
  bool AdvisoryUnlock(int space, const std::string& key, std::uint64_t generation);

 protected:
  Result<void> Transact(const std::function<void(sql::Connection&)>& fn) override;

 private:
  static inline std::atomic<std::uint64_t> next_id_{1};
  PostgresOptions options_;
  std::string lock_;  // takes the schema's write lock
  std::uint64_t id_;
  std::mutex write_mu_;
  Connection writer_;  // GUARDED_BY(write_mu_)
  std::mutex lock_mu_;
  Connection locker_;  // GUARDED_BY(lock_mu_)
};

// The statement that takes the schema's write lock inside a transaction
// (what every write of a Database takes first). Throws DbFailure when the
// schema is not a plain name.
std::string WriteLockStatement(const std::string& schema);

// Creates the schema and keepd's tables in it, or brings them to this keepd's schema: each
// migration not yet applied, in order, in a transaction of its own, under a
// session lock that other replicas starting at once wait on. Throws
// DbFailure, also when the database is of a newer keepd.
void Migrate(sql::Connection& c, const std::string& schema);

}  // namespace keep::postgres
