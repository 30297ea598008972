// storage/sql.h — the SQL the metadata tables speak, over either engine:
// SQLite, the embedded default for one machine (storage/sqlite.h), or
// PostgreSQL, one database shared by every keepd replica (storage/postgres.h).
//
// A Connection keeps its prepared statements; a Stmt binds typed values and
// reads typed columns; a Database gives each thread a read connection and
// runs each write as one short transaction, one writer at a time (with
// PostgreSQL, one at a time across every keepd sharing the database, so that
// a check made inside a write holds until it commits, as with SQLite).
//
// Statements are written once, in SQL both engines accept: parameters `?N`,
// upserts with ON CONFLICT, RETURNING, CAST, CASE. The PostgreSQL engine
// turns `?N` into `$N` and renames the few functions the two spell
// differently (storage/postgres.cc says which). Where more differs, the
// caller asks engine().
//
// Internal to storage/. A Connection is used by one thread at a time; a
// Database is thread-safe.
#pragma once

#include "core/clock.h"
#include "core/error.h"

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace keep::sql {

enum class Engine { kSqlite, kPostgres };

// Why a statement failed, in terms both engines map to.
enum class Fault {
  kOther,
  kConstraint,   // a unique, foreign-key or check constraint refused the write
  kFull,         // the disk under the database is full
  kBusy,         // the database is held by another process
  kUnwritable,   // the database's files cannot be written
  kUnreachable,  // the database server cannot be reached, or the connection broke
};

// Thrown by Stmt and Connection; the metadata layer turns it into an Error.
struct DbFailure : std::runtime_error {
  explicit DbFailure(const std::string& what, Fault fault = Fault::kOther)
      : std::runtime_error(what), fault(fault) {}
  Fault fault;
};

// The Error for a database failure: a full disk is kInsufficientStorage, an
// unreachable server kUnavailable.
Error DbError(const DbFailure& e);

// Runs fn, turning database exceptions into an Error.
template <class F>
auto Guard(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const DbFailure& e) {
    return DbError(e);
  }
}

inline std::int64_t Now() { return UnixNow(); }

// One engine's prepared statement; Stmt is its handle.
class StmtImpl {
 public:
  virtual ~StmtImpl() = default;
  virtual void Bind(int i, std::string_view v) = 0;
  virtual void Bind(int i, std::int64_t v) = 0;
  virtual void BindNull(int i) = 0;
  virtual bool Step() = 0;
  virtual std::int64_t Int(int col) const = 0;
  virtual bool IsNull(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  // Forgets the binds and any rows not read, for the statement's next use.
  virtual void Reset() = 0;
};

// A statement prepared on a Connection, reset when the handle goes.
class Stmt {
 public:
  explicit Stmt(StmtImpl* s) : s_(s) {}
  ~Stmt() { s_->Reset(); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, std::string_view v) {
    s_->Bind(i, v);
    return *this;
  }
  Stmt& Bind(int i, std::int64_t v) {
    s_->Bind(i, v);
    return *this;
  }
  Stmt& BindNull(int i) {
    s_->BindNull(i);
    return *this;
  }
  // true while a row is available; errors become DbFailure exceptions.
  [[nodiscard]] bool Step() { return s_->Step(); }
  // Runs to completion, for statements that return no rows.
  void Run() {
    while (Step()) {
    }
  }
  std::int64_t Int(int col) const { return s_->Int(col); }
  bool IsNull(int col) const { return s_->IsNull(col); }
  std::string Text(int col) const { return s_->Text(col); }

 private:
  StmtImpl* s_;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Engine engine() const = 0;
  // The statement for sql, prepared once per connection. sql must be a
  // string literal (its address keys the cache).
  virtual Stmt Prepare(const char* sql) = 0;
  // Runs statements without parameters (schema, transaction control).
  virtual void Exec(const char* sql) = 0;
  // Inside BEGIN ... COMMIT (an engine may end a transaction itself on an error).
  virtual bool InTransaction() const = 0;
  // Rows the last INSERT, UPDATE or DELETE changed.
  virtual std::int64_t Changes() const = 0;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Engine engine() const = 0;
  // The calling thread's read connection.
  virtual Connection& Reader() = 0;
  // One short write transaction; rolled back if fn throws. A DbFailure
  // becomes its Error, an ErrorException (a refusal decided inside the
  // transaction, e.g. kConflict) its error.
  template <class F>
  Result<void> Write(F&& fn) {
    return Transact([&](Connection& c) { fn(c); });
  }
  // For schema setup only, before the database is shared.
  virtual Connection& writer() = 0;

 protected:
  virtual Result<void> Transact(const std::function<void(Connection&)>& fn) = 0;
  // Transaction(), with its exceptions turned into the Error Write returns.
  static Result<void> RunTransaction(Connection& c, const char* begin,
                                     const std::function<void(Connection&)>& fn);
};

// Runs fn between `begin` and COMMIT on c; if anything throws, rolls back
// (when the engine has not already) and rethrows.
void Transaction(Connection& c, const char* begin, const std::function<void(Connection&)>& fn);

}  // namespace keep::sql
