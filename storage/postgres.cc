#include "storage/postgres.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

namespace keep::postgres {
namespace {

// Advisory locks, one pair per schema (registries sharing a database in
// schemas of their own do not wait on each other): the first key says which
// lock, the second is the hash of the schema's name.
constexpr int kWriteLock = 0x6b707772;    // "kpwr"
constexpr int kMigrateLock = 0x6b706d67;  // "kpmg"

// [a-z_][a-z0-9_]*, at most 63 bytes: safe in SQL, quoted or in a literal.
bool PlainName(const std::string& name) {
  if (name.empty() || name.size() > 63 || std::isdigit(static_cast<unsigned char>(name[0])) != 0) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// The options, once their schema is known to be a plain name.
const PostgresOptions& Checked(const PostgresOptions& options) {
  if (!PlainName(options.schema)) {
    throw sql::DbFailure("the schema name " + options.schema +
                         " is not a plain name ([a-z_][a-z0-9_]*, at most 63 characters)");
  }
  return options;
}

// REQUIRES: schema is a plain name.
std::string LockCall(const char* function, int lock, const std::string& schema) {
  return std::string("SELECT ") + function + "(" + std::to_string(lock) + ", hashtext('" + schema +
         "'))";
}

// The functions the two engines spell differently, as ToPostgres renames them.
struct Rename {
  std::string_view sqlite;
  std::string_view postgres;
};
constexpr Rename kRenames[] = {
    {"group_concat", "string_agg"},
    {"instr", "strpos"},
};

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

bool SameWord(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

// SQLSTATE classes (PostgreSQL's appendix A) as the metadata layer sees them.
sql::Fault FaultOf(const char* state) {
  if (state == nullptr) return sql::Fault::kUnreachable;  // no answer from the server
  std::string_view s(state);
  if (s.starts_with("23")) return sql::Fault::kConstraint;  // integrity
  if (s == "53100") return sql::Fault::kFull;               // disk_full
  if (s.starts_with("08") || s.starts_with("57P"))
    return sql::Fault::kUnreachable;                 // connection, shutdown
  if (s == "25006") return sql::Fault::kUnwritable;  // read_only_sql_transaction (a standby)
  return sql::Fault::kOther;
}

void IgnoreNotice(void*, const char*) {}

}  // namespace

std::string ToPostgres(std::string_view sql, int& params) {
  std::string out;
  out.reserve(sql.size() + 16);
  params = 0;
  for (std::size_t i = 0; i < sql.size();) {
    char c = sql[i];
    if (c == '\'' || c == '"') {  // a literal or a quoted name, copied whole
      std::size_t end = i + 1;
      while (end < sql.size() && sql[end] != c) ++end;
      out.append(sql.substr(i, end + 1 - i));
      i = end + 1;
      continue;
    }
    if (c == '?') {
      std::size_t end = i + 1;
      while (end < sql.size() && std::isdigit(static_cast<unsigned char>(sql[end])) != 0) ++end;
      int n = params + 1;
      if (end > i + 1) std::from_chars(sql.data() + i + 1, sql.data() + end, n);
      params = std::max(params, n);
      out += '$';
      out += std::to_string(n);
      i = end;
      continue;
    }
    if (IsWordChar(c)) {
      std::size_t end = i;
      while (end < sql.size() && IsWordChar(sql[end])) ++end;
      std::string_view word = sql.substr(i, end - i);
      std::string_view replaced = word;
      if (end < sql.size() && sql[end] == '(') {
        for (const auto& r : kRenames) {
          if (SameWord(word, r.sqlite)) replaced = r.postgres;
        }
      }
      out.append(replaced);
      i = end;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

// A statement prepared on the server under a name of its own; its binds
// and its result live here between Step()s.
class Statement final : public sql::StmtImpl {
 public:
  Statement(Connection* conn, std::string name, const char* sql)
      : conn_(conn), name_(std::move(name)), text_(ToPostgres(sql, params_)) {
    values_.resize(static_cast<std::size_t>(params_));
  }
  ~Statement() override { PQclear(result_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void Bind(int i, std::string_view v) override {
    // Values travel as C strings: a NUL would cut one short, unseen.
    if (v.find('\0') != std::string_view::npos) {
      throw sql::DbFailure("a value with a NUL byte cannot be stored, in: " + text_);
    }
    Value(i) = std::string(v);
  }
  void Bind(int i, std::int64_t v) override { Value(i) = std::to_string(v); }
  void BindNull(int i) override { Value(i).reset(); }

  bool Step() override {
    if (result_ == nullptr) {
      Execute();
      row_ = 0;
    } else {
      ++row_;
    }
    return row_ < PQntuples(result_);
  }

  std::int64_t Int(int col) const override {
    const char* v = PQgetvalue(result_, row_, col);
    if (v[0] == 't' && v[1] == '\0') return 1;  // a boolean (EXISTS)
    if (v[0] == 'f' && v[1] == '\0') return 0;
    std::int64_t n = 0;
    std::from_chars(v, v + std::strlen(v), n);
    return n;
  }
  bool IsNull(int col) const override { return PQgetisnull(result_, row_, col) != 0; }
  std::string Text(int col) const override {
    return std::string(PQgetvalue(result_, row_, col),
                       static_cast<std::size_t>(PQgetlength(result_, row_, col)));
  }
  void Reset() override {
    PQclear(result_);
    result_ = nullptr;
    for (auto& v : values_) v.reset();
  }

 private:
  std::optional<std::string>& Value(int i) {
    if (i < 1 || i > params_) {
      throw sql::DbFailure("parameter " + std::to_string(i) + " is not in: " + text_);
    }
    return values_[static_cast<std::size_t>(i - 1)];
  }

  void Execute() {
    // A read outside a transaction that finds the connection broken (the
    // server restarted since its last use) is tried once more on a new one:
    // it changed nothing. Anything else fails, for its transaction to end.
    const bool retry =
        !conn_->in_transaction_ && (text_.starts_with("SELECT") || text_.starts_with("WITH"));
    for (int attempt = 0;; ++attempt) {
      conn_->EnsureOpen();
      PGresult* failed = nullptr;
      std::string what = text_;
      if (prepared_ != conn_->generation_) {
        PGresult* r = PQprepare(conn_->conn_, name_.c_str(), text_.c_str(), params_, nullptr);
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
          PQclear(r);
          prepared_ = conn_->generation_;
        } else {
          failed = r;
          what = "prepare " + text_;
        }
      }
      if (failed == nullptr) {
        std::vector<const char*> values;
        values.reserve(values_.size());
        for (const auto& v : values_) values.push_back(v ? v->c_str() : nullptr);
        result_ = PQexecPrepared(conn_->conn_, name_.c_str(), params_, values.data(), nullptr,
                                 nullptr, 0);
        auto status = PQresultStatus(result_);
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) break;
        failed = result_;
        result_ = nullptr;
      }
      if (attempt == 0 && retry && conn_->Broken()) {
        PQclear(failed);
        continue;
      }
      conn_->Throw(what, failed);
    }
    conn_->Done(result_);
  }

  Connection* conn_;
  std::string name_;
  int params_ = 0;
  std::string text_;
  std::vector<std::optional<std::string>> values_;
  std::uint64_t prepared_ = 0;  // the connection's generation it was prepared in
  PGresult* result_ = nullptr;
  int row_ = 0;
};

Connection::Connection(const PostgresOptions& options) : options_(options) { EnsureOpen(); }

Connection::~Connection() {
  cache_.clear();
  PQfinish(conn_);
}

void Connection::EnsureOpen() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return;
  if (in_transaction_) {
    in_transaction_ = false;  // the next command, a new transaction's, may connect again
    throw sql::DbFailure("postgresql: the connection broke inside a transaction",
                         sql::Fault::kUnreachable);
  }
  PQfinish(conn_);
  std::string timeout = std::to_string(options_.connect_timeout_seconds);
  // The connection string is read as one (expand_dbname); the password is
  // given apart, never written into it.
  // Keepalives first, so that the connection string may set them otherwise:
  // a server gone silent is noticed within about 25 s.
  const char* keys[] = {"keepalives_idle", "keepalives_interval", "keepalives_count", "dbname",
                        "password",        "connect_timeout",     "application_name", nullptr};
  const char* values[] = {"10",
                          "5",
                          "3",
                          options_.conninfo.c_str(),
                          options_.password.empty() ? nullptr : options_.password.c_str(),
                          timeout.c_str(),
                          "keepd",
                          nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    std::string why = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    throw sql::DbFailure("postgresql: cannot connect: " + why, sql::Fault::kUnreachable);
  }
  PQsetNoticeProcessor(conn_, IgnoreNotice, nullptr);
  ++generation_;
  // The schema is checked by the configuration: plain lower-case letters,
  // digits and '_'; it is quoted all the same.
  // The server notices a keepd gone (and frees its advisory locks) within
  // about 25 s, not the system's two hours; an idle connection, such as the
  // one holding locks, is never closed by the server's idle timeout.
  std::string setup =
      "SET client_min_messages=warning; SET TIME ZONE 'UTC'; SET tcp_keepalives_idle=10; "
      "SET tcp_keepalives_interval=5; SET tcp_keepalives_count=3; SET idle_session_timeout=0; "
      "SET search_path TO \"" +
      options_.schema + "\"";
  Exec(setup.c_str());
}

void Connection::Throw(const std::string& what, PGresult* r) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
  if (message.empty()) message = PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  sql::Fault fault = PQstatus(conn_) != CONNECTION_OK ? sql::Fault::kUnreachable : FaultOf(state);
  PQclear(r);
  throw sql::DbFailure("postgresql: " + message + " in: " + what, fault);
}

sql::Stmt Connection::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return sql::Stmt(it->second.get());
  auto& stmt = cache_[sql] =
      std::make_unique<Statement>(this, "k" + std::to_string(cache_.size()), sql);
  return sql::Stmt(stmt.get());
}

void Connection::Exec(const char* sql) {
  // A new transaction: whatever the last one met is over.
  if (std::string_view(sql).starts_with("BEGIN")) in_transaction_ = false;
  EnsureOpen();
  const bool commit = std::strcmp(sql, "COMMIT") == 0;
  if (commit && !in_transaction_) {
    throw sql::DbFailure(
        "postgresql: COMMIT without a transaction (the connection was opened "
        "again meanwhile)",
        sql::Fault::kUnreachable);
  }
  PGresult* r = PQexec(conn_, sql);
  auto status = PQresultStatus(r);
  const bool begin = std::string_view(sql).starts_with("BEGIN");
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && begin && Broken()) {
    // Broken while idle (the server restarted): nothing began; begin on a new connection.
    PQclear(r);
    EnsureOpen();
    r = PQexec(conn_, sql);
    status = PQresultStatus(r);
  }
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) Throw(sql, r);
  // A COMMIT of a transaction that had failed is a ROLLBACK, answered as a success.
  const bool rolled_back = commit && std::strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
  Done(r);
  PQclear(r);
  if (rolled_back) throw sql::DbFailure("postgresql: the transaction was rolled back at COMMIT");
}

void Connection::Done(PGresult* r) {
  auto s = PQtransactionStatus(conn_);
  in_transaction_ = s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
  std::string_view command = PQcmdStatus(r);
  if (command.starts_with("INSERT") || command.starts_with("UPDATE") ||
      command.starts_with("DELETE")) {
    changes_ = std::atoll(PQcmdTuples(r));
  }
}

bool Connection::Broken() const { return conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK; }

bool Connection::InTransaction() const {
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

std::string WriteLockStatement(const std::string& schema) {
  if (!PlainName(schema)) throw sql::DbFailure("the schema name " + schema + " is not plain");
  return LockCall("pg_advisory_xact_lock", kWriteLock, schema);
}

Database::Database(const PostgresOptions& options)
    : options_(Checked(options)), lock_(WriteLockStatement(options.schema)),
      id_(next_id_.fetch_add(1)), writer_(options), locker_(options) {}

Connection& Database::Reader() {
  thread_local std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> conns;
  auto& c = conns[id_];
  if (!c) c = std::make_unique<Connection>(options_);
  return *c;
}

std::optional<std::uint64_t> Database::TryAdvisoryLock(int space, const std::string& key) {
  std::lock_guard lock(lock_mu_);
  auto s = locker_.Prepare(
      "SELECT pg_try_advisory_lock(CAST(?1 AS INTEGER), hashtext(CAST(?2 AS TEXT)))");
  s.Bind(1, std::int64_t{space}).Bind(2, options_.schema + "/" + key);
  if (!s.Step() || s.Int(0) == 0) return std::nullopt;
  return locker_.generation();
}

bool Database::AdvisoryUnlock(int space, const std::string& key, std::uint64_t generation) {
  std::lock_guard lock(lock_mu_);
  // On a connection opened since, the same key may be another holder's.
  if (locker_.generation() != generation) return false;
  auto s =
      locker_.Prepare("SELECT pg_advisory_unlock(CAST(?1 AS INTEGER), hashtext(CAST(?2 AS TEXT)))");
  s.Bind(1, std::int64_t{space}).Bind(2, options_.schema + "/" + key);
  return s.Step() && s.Int(0) != 0 && locker_.generation() == generation;
}

Result<void> Database::Transact(const std::function<void(sql::Connection&)>& fn) {
  std::lock_guard lock(write_mu_);
  // The lock is taken inside the transaction, so that a failure to take it
  // (a lock or statement timeout of the role) is rolled back like any other.
  return RunTransaction(writer_, "BEGIN", [&](sql::Connection& c) {
    c.Exec(lock_.c_str());
    fn(c);
  });
}

}  // namespace keep::postgres

namespace keep::postgres {
namespace {

// The schema, one migration per version; each is applied once, in order.
// Text sorts and compares byte by byte (COLLATE "C"), as in SQLite, so that
// tag and catalog pages follow the order the API promises whatever locale
// the database was made with. Integers are 64-bit, as all of SQLite's are.
constexpr const char* kMigrations[] = {
    // 1: the tables of SQLite's schema 9.
    R"sql(
CREATE TABLE repositories(
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at BIGINT NOT NULL);
CREATE TABLE repo_blobs(
  repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT COLLATE "C" NOT NULL,
  size BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY(repo_id, digest));
CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);
CREATE TABLE manifests(
  repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT COLLATE "C" NOT NULL,
  media_type TEXT COLLATE "C" NOT NULL,
  size BIGINT NOT NULL,
  artifact_type TEXT COLLATE "C" NOT NULL,
  subject TEXT COLLATE "C",
  annotations TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY(repo_id, digest));
CREATE INDEX manifests_by_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_refs(
  repo_id BIGINT NOT NULL,
  manifest TEXT COLLATE "C" NOT NULL,
  target TEXT COLLATE "C" NOT NULL,
  kind BIGINT NOT NULL, -- 0: blob, 1: child manifest
  PRIMARY KEY(repo_id, manifest, kind, target),
  FOREIGN KEY(repo_id, manifest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE);
CREATE TABLE tags(
  repo_id BIGINT NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY(repo_id, name),
  FOREIGN KEY(repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE);
CREATE TABLE uploads(
  id TEXT COLLATE "C" PRIMARY KEY,
  repo TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  owner TEXT COLLATE "C" NOT NULL DEFAULT '');
CREATE INDEX uploads_by_owner ON uploads(owner, created_at);
CREATE TABLE users(
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  password_hash TEXT COLLATE "C" NOT NULL,
  admin BIGINT NOT NULL,
  disabled BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  robot BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  created_by TEXT COLLATE "C" NOT NULL DEFAULT '');
CREATE TABLE robot_scopes(
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  namespace TEXT COLLATE "C" NOT NULL,
  actions TEXT COLLATE "C" NOT NULL, -- comma-separated: pull,push,delete
  PRIMARY KEY(user_id, namespace));
CREATE TABLE namespaces(
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  anonymous_pull BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  created_by TEXT COLLATE "C" NOT NULL,
  mode TEXT COLLATE "C" NOT NULL DEFAULT 'quarantine',
  threshold BIGINT NOT NULL DEFAULT 1,
  quarantine_ttl BIGINT NOT NULL DEFAULT 86400,
  policy_since BIGINT NOT NULL DEFAULT 0);
CREATE TABLE members(
  namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY(namespace_id, user_id));
CREATE INDEX members_by_user ON members(user_id);
CREATE TABLE publisher_keys(
  namespace TEXT COLLATE "C" NOT NULL,
  key_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  algorithm TEXT COLLATE "C" NOT NULL,
  pem TEXT COLLATE "C" NOT NULL,
  added_by TEXT COLLATE "C" NOT NULL,
  added_at BIGINT NOT NULL,
  revoked BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(namespace, key_id));
CREATE TABLE signatures(
  repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  target TEXT COLLATE "C" NOT NULL,
  key_id TEXT COLLATE "C" NOT NULL,
  format TEXT COLLATE "C" NOT NULL,
  signature TEXT COLLATE "C" NOT NULL,
  verified_at BIGINT NOT NULL,
  trust_root TEXT COLLATE "C" NOT NULL DEFAULT '',
  PRIMARY KEY(repo_id, target, key_id, signature));
CREATE INDEX signatures_by_artifact ON signatures(repo_id, signature);
CREATE TABLE stored_signatures(
  repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  target TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  content TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY(repo_id, target, name));
CREATE TABLE trusted_identities(
  namespace TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  issuer TEXT COLLATE "C" NOT NULL,
  subject TEXT COLLATE "C" NOT NULL,
  subject_regex TEXT COLLATE "C" NOT NULL,
  extensions TEXT COLLATE "C" NOT NULL,
  added_by TEXT COLLATE "C" NOT NULL,
  added_at BIGINT NOT NULL,
  revoked BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(namespace, name));
CREATE TABLE trust_roots(
  name TEXT COLLATE "C" PRIMARY KEY,
  content TEXT COLLATE "C" NOT NULL,
  added_by TEXT COLLATE "C" NOT NULL,
  added_at BIGINT NOT NULL,
  digest TEXT COLLATE "C" NOT NULL DEFAULT '');
-- A signature artifact's records go with it (storage/sqlite_trust.cc says why).
CREATE FUNCTION keep_signatures_follow_artifacts() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  DELETE FROM signatures WHERE repo_id=OLD.repo_id AND signature=OLD.digest;
  RETURN OLD;
END $$;
CREATE TRIGGER signatures_follow_artifacts AFTER DELETE ON manifests
  FOR EACH ROW EXECUTE FUNCTION keep_signatures_follow_artifacts();
CREATE TABLE mirrors(
  name TEXT COLLATE "C" PRIMARY KEY,
  spec TEXT COLLATE "C" NOT NULL,
  sealed TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  created_by TEXT COLLATE "C" NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE TABLE mirror_tags(
  rule TEXT COLLATE "C" NOT NULL REFERENCES mirrors(name) ON DELETE CASCADE,
  repository TEXT COLLATE "C" NOT NULL,
  tag TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  pending TEXT COLLATE "C" NOT NULL,
  state TEXT COLLATE "C" NOT NULL,
  reason TEXT COLLATE "C" NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY(rule, repository, tag));
CREATE TABLE audit(
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never reused once pruned
  time BIGINT NOT NULL,       -- unix milliseconds, UTC
  actor TEXT COLLATE "C" NOT NULL,
  source TEXT COLLATE "C" NOT NULL,
  action TEXT COLLATE "C" NOT NULL,
  namespace TEXT COLLATE "C" NOT NULL,
  target TEXT COLLATE "C" NOT NULL,
  outcome TEXT COLLATE "C" NOT NULL,
  details TEXT COLLATE "C" NOT NULL,       -- a JSON object
  count BIGINT NOT NULL,      -- repeated refusals folded into this row
  last_time BIGINT NOT NULL);
CREATE INDEX audit_by_time ON audit(time);
CREATE INDEX audit_by_namespace ON audit(namespace, id);
CREATE INDEX audit_by_actor ON audit(actor, id);
CREATE INDEX audit_by_action ON audit(action, id);
)sql",
    // 2: the secrets replicas share (SqlMetadata::SharedSecret), base64.
    R"sql(
CREATE TABLE secrets(
  name TEXT COLLATE "C" PRIMARY KEY,
  value TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

}  // namespace

void Migrate(sql::Connection& c, const std::string& schema) {
  if (!PlainName(schema)) throw sql::DbFailure("the schema name " + schema + " is not plain");
  const std::string create_schema = "CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"";
  const std::string lock = LockCall("pg_advisory_lock", kMigrateLock, schema);
  const std::string unlock = LockCall("pg_advisory_unlock", kMigrateLock, schema);
  c.Exec(lock.c_str());
  try {
    c.Exec(create_schema.c_str());
    c.Exec(
        "CREATE TABLE IF NOT EXISTS keep_schema(version BIGINT PRIMARY KEY, applied_at BIGINT "
        "NOT NULL)");
    int version = 0;
    {
      auto s = c.Prepare("SELECT COALESCE(MAX(version), 0) FROM keep_schema");
      if (s.Step()) version = static_cast<int>(s.Int(0));
    }
    if (version > kSchemaVersion) {
      throw sql::DbFailure("the metadata database is from a newer Keep (schema " +
                           std::to_string(version) + ", this keepd knows " +
                           std::to_string(kSchemaVersion) + "); upgrade keepd");
    }
    for (int v = version + 1; v <= kSchemaVersion; ++v) {
      sql::Transaction(c, "BEGIN", [&](sql::Connection& t) {
        t.Exec(kMigrations[v - 1]);
        auto s = t.Prepare("INSERT INTO keep_schema(version, applied_at) VALUES(?1, ?2)");
        s.Bind(1, std::int64_t{v}).Bind(2, sql::Now()).Run();
      });
    }
  } catch (...) {
    try {
      c.Exec(unlock.c_str());
    } catch (const sql::DbFailure&) {  // the connection broke: the lock went with it
    }
    throw;
  }
  c.Exec(unlock.c_str());
}

}  // namespace keep::postgres
