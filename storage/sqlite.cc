#include "storage/sqlite.h"

namespace keep::sqlite {

sql::Fault FaultOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return sql::Fault::kConstraint;
    case SQLITE_FULL: return sql::Fault::kFull;
    case SQLITE_BUSY: return sql::Fault::kBusy;
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN: return sql::Fault::kUnwritable;
    default: return sql::Fault::kOther;
  }
}

bool Statement::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw sql::DbFailure(std::string("sqlite: ") + sqlite3_errmsg(sqlite3_db_handle(s_)),
                       FaultOf(rc));
}

// The "unix-excl" VFS keeps WAL mode's wal-index in this process's memory
// instead of a memory-mapped <db>-shm file: with the mapping, a -shm that
// became unwritable under keepd (chattr +i, a full filesystem with holes in
// the file) turned the next write to it into SIGBUS and killed keepd; now
// the write fails with an error and reads go on. The price: keepd holds the
// database exclusively (one lock for the whole process, shared by its
// connections), so no other process may open it while keepd runs.
constexpr const char* kVfs = "unix-excl";

// SQLite counts the memory it allocates under one process-wide mutex, on
// every allocation: with a read connection per thread, the threads queue on
// it (half of a manifest GET's time in a quarantined namespace, whose trust
// query allocates the most). Keep reads none of those counts. It must be
// said before SQLite initialises, which its first open does.
void TurnOffMemoryStatistics() {
  static const bool done = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)done;
}

Connection::Connection(const std::string& path, Open how) {
  TurnOffMemoryStatistics();
  const int create = how == Open::kCreate ? SQLITE_OPEN_CREATE : 0;
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | create | SQLITE_OPEN_NOMUTEX,
                           kVfs);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw sql::DbFailure("sqlite: cannot open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 10000);
  Exec("PRAGMA journal_mode=WAL");
  Exec("PRAGMA synchronous=FULL");
  Exec("PRAGMA foreign_keys=ON");
  // Sorts, indexes and the like that outgrow the page cache stay in memory,
  // never in a temporary file in /var/tmp or /tmp: keepd writes under its
  // data directory alone (a read-only root filesystem is fine). The
  // metadata is small next to the blobs, so the memory is too.
  Exec("PRAGMA temp_store=MEMORY");
}

Connection::~Connection() {
  cache_.clear();  // the statements go before their connection
  sqlite3_close(db_);
}

sql::Stmt Connection::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return sql::Stmt(it->second.get());
  sqlite3_stmt* s = nullptr;
  if (int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      rc != SQLITE_OK) {
    throw sql::DbFailure(
        std::string("sqlite: prepare failed: ") + sqlite3_errmsg(db_) + " in: " + sql, FaultOf(rc));
  }
  auto& stmt = cache_[sql] = std::make_unique<Statement>(s);
  return sql::Stmt(stmt.get());
}

void Connection::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw sql::DbFailure("sqlite: " + msg, FaultOf(rc));
  }
}

Connection& Database::Reader() {
  thread_local std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> conns;
  auto& c = conns[id_];
  if (!c) c = std::make_unique<Connection>(path_, Connection::Open::kExisting);
  return *c;
}

Result<void> Database::Transact(const std::function<void(sql::Connection&)>& fn) {
  std::lock_guard lock(write_mu_);
  return RunTransaction(writer_, "BEGIN IMMEDIATE", fn);
}

bool HasColumn(sql::Connection& c, std::string_view table, std::string_view column) {
  auto s = c.Prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name=?2");
  s.Bind(1, table).Bind(2, column);
  return s.Step();
}

}  // namespace keep::sqlite
