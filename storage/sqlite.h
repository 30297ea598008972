// storage/sqlite.h — a thin RAII layer over SQLite: a connection that keeps
// its prepared statements, and a statement with typed binds and reads.
//
// A Connection is used by one thread at a time. Statements are reset when
// the Stmt handle returned by Prepare() goes out of scope.
#pragma once

#include "core/error.h"

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace keep::sqlite {

class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  // true while a row is available; errors become exceptions (caught by the caller).
  [[nodiscard]] bool Step();
  // Runs to completion, for statements that return no rows.
  void Run() {
    while (Step()) {
    }
  }

  std::int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string Text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

class Connection {
 public:
  enum class Open { kCreate, kExisting };
  // Opens the database at path, in WAL mode, held by this process alone
  // (sqlite.cc says why). kCreate makes the file if it is not there;
  // kExisting fails instead, so that a database moved or deleted under
  // keepd is not replaced by an empty one.
  explicit Connection(const std::string& path, Open how = Open::kCreate);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The statement for sql, prepared once per connection. sql must be a
  // string literal (its address keys the cache).
  Stmt Prepare(const char* sql);
  void Exec(const char* sql);
  // Inside BEGIN ... COMMIT (SQLite ends a transaction itself on some errors).
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  std::int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// Whether `table` has a column named `column` (for migrations).
bool HasColumn(Connection& c, std::string_view table, std::string_view column);

// Thrown by Stmt/Connection; the metadata layer turns it into an Error.
struct SqliteError : std::runtime_error {
  explicit SqliteError(const std::string& what, int code = SQLITE_ERROR)
      : std::runtime_error(what), code(code) {}
  int code;  // the primary SQLite result code (SQLITE_FULL, SQLITE_IOERR, ...)
};

}  // namespace keep::sqlite
