// storage/sqlite.h — the SQLite engine of storage/sql.h: a connection that
// keeps its prepared statements, and a database of one file with a read
// connection per thread and one writer.
//
// Internal to storage/. A Connection is used by one thread at a time; the
// Database is thread-safe.
#pragma once

#include "storage/sql.h"

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace keep::sqlite {

class Statement final : public sql::StmtImpl {
 public:
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  ~Statement() override { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void Bind(int i, std::string_view v) override {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, std::int64_t v) override { sqlite3_bind_int64(s_, i, v); }
  void BindNull(int i) override { sqlite3_bind_null(s_, i); }
  bool Step() override;
  std::int64_t Int(int col) const override { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) const override { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string Text(int col) const override {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  void Reset() override {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_;
};

class Connection final : public sql::Connection {
 public:
  enum class Open { kCreate, kExisting };
  // Opens the database at path, in WAL mode, held by this process alone
  // (sqlite.cc says why). kCreate makes the file if it is not there;
  // kExisting fails instead, so that a database moved or deleted under
  // keepd is not replaced by an empty one.
  explicit Connection(const std::string& path, Open how = Open::kCreate);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sql::Engine engine() const override { return sql::Engine::kSqlite; }
  sql::Stmt Prepare(const char* sql) override;
  void Exec(const char* sql) override;
  bool InTransaction() const override { return sqlite3_get_autocommit(db_) == 0; }
  std::int64_t Changes() const override { return sqlite3_changes64(db_); }
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, std::unique_ptr<Statement>> cache_;
};

// One SQLite database file: a read connection per thread and one writer,
// each write a short transaction under the writer's lock.
class Database final : public sql::Database {
 public:
  explicit Database(std::string path)
      : path_(std::move(path)), id_(next_id_.fetch_add(1)), writer_(path_) {}

  sql::Engine engine() const override { return sql::Engine::kSqlite; }
  // Opened only on the file the writer made: a thread's first read after
  // the database was moved or deleted fails rather than reading a new empty one.
  Connection& Reader() override;
  Connection& writer() override { return writer_; }
  // The database file's path.
  const std::string& path() const { return path_; }

 protected:
  Result<void> Transact(const std::function<void(sql::Connection&)>& fn) override;

 private:
  static inline std::atomic<std::uint64_t> next_id_{1};
  std::string path_;
  std::uint64_t id_;
  std::mutex write_mu_;
  Connection writer_;  // GUARDED_BY(write_mu_)
};

// What a SQLite result code means to the metadata layer.
sql::Fault FaultOf(int rc);

// Whether `table` has a column named `column` (for migrations).
bool HasColumn(sql::Connection& c, std::string_view table, std::string_view column);

}  // namespace keep::sqlite
