#include "storage/migrate.h"

#include "core/digest.h"
#include "storage/postgres.h"
#include "storage/secrets.h"
#include "storage/sql.h"
#include "storage/sqlite.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <set>

namespace keep {
namespace {

using sql::DbFailure;

// Statements are cached by the address of their text: the texts made here
// live as long as the connections that prepared them (declared first).
class Texts {
 public:
  const char* operator()(std::string s) { return texts_.emplace_back(std::move(s)).c_str(); }

 private:
  std::deque<std::string> texts_;
};

// Table and column names go into SQL text: only plain ones are taken.
bool PlainName(const std::string& s) {
  return !s.empty() && s.size() <= 63 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string Checked(std::string name) {
  if (!PlainName(name)) throw DbFailure("the table or column name \"" + name + "\" is not plain");
  return name;
}

struct Column {
  std::string name;
  bool identity = false;
};

// keepd's tables in PostgreSQL, in the order they were made: a table's
// references are to tables made before it. Not upload sessions: their bytes
// stay behind, and a client starts an unfinished upload again.
std::vector<std::string> TablesInOrder(postgres::Connection& pg, const std::string& schema) {
  auto s = pg.Prepare(
      "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = CAST(?1 AS TEXT) AND c.relkind = 'r' "
      "AND c.relname NOT IN ('keep_schema', 'secrets', 'uploads') ORDER BY c.oid");
  s.Bind(1, schema);
  std::vector<std::string> out;
  while (s.Step()) out.push_back(Checked(s.Text(0)));
  return out;
}

std::vector<Column> PostgresColumns(postgres::Connection& pg, const std::string& schema,
                                    const std::string& table) {
  auto s = pg.Prepare(
      "SELECT column_name, is_identity FROM information_schema.columns "
      "WHERE table_schema = CAST(?1 AS TEXT) AND table_name = CAST(?2 AS TEXT) "
      "ORDER BY ordinal_position");
  s.Bind(1, schema).Bind(2, table);
  std::vector<Column> out;
  while (s.Step()) out.push_back({Checked(s.Text(0)), s.Text(1) == "YES"});
  return out;
}

std::set<std::string> SqliteColumns(sqlite::Connection& lite, Texts& texts,
                                    const std::string& table) {
  auto s = lite.Prepare(texts("PRAGMA table_info(\"" + table + "\")"));
  std::set<std::string> out;
  while (s.Step()) out.insert(s.Text(1));
  return out;
}

// The database must hold nothing but what an earlier run of this migration,
// from the same source, wrote: the mark `migrated-from` (in the secrets
// table) names the source, by its token key. Another registry's users or
// repositories, or a replica's first admin, would otherwise take the ids the
// copied rows refer to.
void CheckTarget(postgres::Connection& pg, const std::string& source) {
  auto mark = pg.Prepare("SELECT value FROM secrets WHERE name = 'migrated-from'");
  if (mark.Step()) {
    if (mark.Text(0) != source) {
      throw ErrorException(
          OperatorFault(ErrorCode::kConflict,
                        "the database already holds a Keep migrated from another data "
                        "directory; migrate into an empty schema (metadata.postgres.schema)"));
    }
    return;
  }
  auto held = pg.Prepare(
      "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM namespaces) + "
      "(SELECT COUNT(*) FROM repositories)");
  if (held.Step() && held.Int(0) > 0) {
    throw ErrorException(OperatorFault(
        ErrorCode::kConflict,
        "the database already holds users, namespaces or repositories (a keepd ran on it); "
        "migrate into an empty schema (metadata.postgres.schema), before any replica starts"));
  }
}

// Copies one table's rows; returns {read, written}.
std::pair<std::int64_t, std::int64_t> CopyTable(postgres::Connection& pg, sqlite::Connection& lite,
                                                Texts& texts, const std::string& table,
                                                const std::vector<Column>& columns) {
  std::string names, params;
  bool identity = false;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    names += (i ? ", " : "") + ("\"" + columns[i].name + "\"");
    params += (i ? ", ?" : "?") + std::to_string(i + 1);
    identity = identity || columns[i].identity;
  }
  auto read = lite.Prepare(texts("SELECT " + names + " FROM \"" + table + "\""));
  const char* insert = texts("INSERT INTO \"" + table + "\"(" + names + ")" +
                             (identity ? " OVERRIDING SYSTEM VALUE" : "") + " VALUES(" + params +
                             ") ON CONFLICT DO NOTHING");
  std::int64_t rows = 0, written = 0;
  {
    sql::Connection& c = pg;
    while (read.Step()) {
      auto s = c.Prepare(insert);
      for (std::size_t i = 0; i < columns.size(); ++i) {
        const int col = static_cast<int>(i);
        if (read.IsNull(col)) {
          s.BindNull(col + 1);
        } else {
          s.Bind(col + 1, read.Text(col));
        }
      }
      s.Run();
      ++rows;
      written += c.Changes();
    }
    // Ids made after the migration follow those copied.
    for (const Column& col : columns) {
      if (!col.identity) continue;
      auto s = c.Prepare(texts("SELECT setval(pg_get_serial_sequence('\"" + table + "\"', '" +
                               col.name + "'), GREATEST((SELECT MAX(\"" + col.name + "\") FROM \"" +
                               table + "\"), 1))"));
      s.Run();
    }
  }
  return {rows, written};
}

Result<void> CopyBlobs(BlobDriver& from, BlobDriver& to, MigrateReport& report,
                       const std::function<void(const std::string&)>& say) {
  std::string buffer(1 << 20, '\0');
  return from.ForEachBlob([&](const BlobFile& f) -> Result<void> {
    if (!f.digest) return {};  // no blob: the integrity check reports such files
    auto there = to.Stat(*f.digest);
    if (!there) return there.error();
    if (*there && **there == f.size) {
      ++report.blobs_present;
      return {};
    }
    auto reader = from.Open(*f.digest);
    if (!reader) return reader.error();
    auto writer = to.Create();
    if (!writer) return writer.error();
    std::uint64_t offset = 0;
    while (offset < (*reader)->size()) {
      auto n = (*reader)->ReadAt(buffer.data(), buffer.size(), offset);
      if (!n) return n.error();
      if (*n == 0) break;
      KEEP_TRY((*writer)->Write(buffer.data(), *n));
      offset += *n;
    }
    // The writer hashed what it was given: a file whose bytes are not its
    // digest's is refused here, and nothing of it is published.
    if (auto committed = (*writer)->Commit(*f.digest); !committed) {
      return Fail(committed.error().code, "blob " + f.digest->str() + " (" + f.path +
                                              ") was not copied: " + committed.error().message);
    }
    ++report.blobs_copied;
    report.bytes_copied += offset;
    if (say && report.blobs_copied % 100 == 0) {
      say("copied " + std::to_string(report.blobs_copied) + " blobs (" +
          std::to_string(report.bytes_copied >> 20) + " MiB) so far");
    }
    return {};
  });
}

// The data directory's secrets, offered to the database.
Result<void> OfferSecrets(Metadata& shared, const std::string& from_dir, MigrateReport& report) {
  for (const char* name : {"token.key", "curator.key", "mirror-secrets.key"}) {
    auto file = ReadPrivateFile(from_dir + "/" + name);
    if (!file) return file.error();
    if (!*file) continue;
    auto kept = shared.SharedSecret(name, **file);
    if (!kept) return kept.error();
    report.secrets.push_back(name);
    if (*kept != **file) {
      report.warnings.push_back(
          std::string("the database already held another ") + name +
          " (a replica started before the migration): it is kept, so tokens of the old keepd "
          "are refused" +
          (std::string(name) == "mirror-secrets.key"
               ? ", and each mirror rule's upstream password must be given again"
           : std::string(name) == "curator.key"
               ? ", and namespaces must trust the new curator key (keepctl mirror key)"
               : ""));
    }
  }
  return {};
}

// 2. (migrate.h) Every table, in PostgreSQL's order, in one transaction
// under the database's write lock: replicas see all of it or none, and
// write nothing in between.
void CopyTables(const std::string& source, const std::string& source_id,
                const PostgresOptions& to_db, MigrateReport& report,
                const std::function<void(const std::string&)>& say) {
  Texts texts;
  sqlite::Connection lite(source, sqlite::Connection::Open::kExisting);
  postgres::Connection pg(to_db);
  const auto tables = TablesInOrder(pg, to_db.schema);
  std::vector<std::vector<Column>> columns;
  for (const auto& table : tables) {
    columns.push_back(PostgresColumns(pg, to_db.schema, table));
    std::set<std::string> theirs = SqliteColumns(lite, texts, table);
    std::set<std::string> ours;
    for (const auto& c : columns.back()) ours.insert(c.name);
    if (theirs != ours) {
      throw ErrorException(OperatorFault(
          ErrorCode::kInternal, "the source's table " + table +
                                    " does not have the columns PostgreSQL's has; is the source "
                                    "from this version of Keep?"));
    }
  }
  const std::string lock = postgres::WriteLockStatement(to_db.schema);
  sql::Transaction(pg, "BEGIN", [&](sql::Connection& c) {
    c.Exec(lock.c_str());
    CheckTarget(pg, source_id);  // again, under the lock
    for (std::size_t i = 0; i < tables.size(); ++i) {
      auto [rows, written] = CopyTable(pg, lite, texts, tables[i], columns[i]);
      report.tables.emplace_back(tables[i], rows);
      report.rows_read += rows;
      report.rows_written += written;
      if (say) {
        say("table " + tables[i] + ": " + std::to_string(rows) + " rows, " +
            std::to_string(written) + " new");
      }
    }
    auto mark = c.Prepare(
        "INSERT INTO secrets(name, value, created_at) VALUES('migrated-from', ?1, ?2) "
        "ON CONFLICT(name) DO NOTHING");
    mark.Bind(1, source_id).Bind(2, sql::Now()).Run();
  });
}

}  // namespace

Result<MigrateReport> MigrateToShared(BlobDriver& from, const std::string& from_dir, BlobDriver& to,
                                      const PostgresOptions& to_db,
                                      const KeyCanonicalizer& canonical,
                                      const std::function<void(const std::string&)>& say) {
  MigrateReport report;
  const std::string source = from_dir + "/metadata.db";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(source, ec)) {
    return OperatorFault(ErrorCode::kNotFound, "there is no Keep in " + from_dir +
                                                   " (no metadata.db): give the data directory "
                                                   "of the keepd to move");
  }
  {
    // The source's schema brought to this keepd's (what PostgreSQL's mirrors).
    auto lite = OpenSqliteMetadata(source, canonical);
    if (!lite) return lite.error();
  }
  // The source, named by its token key (or, without one, its place).
  auto token = ReadPrivateFile(from_dir + "/token.key");
  if (!token) return token.error();
  const std::string source_id =
      Sha256Of(*token ? **token : std::filesystem::absolute(from_dir, ec).string()).str();
  auto shared = OpenPostgresMetadata(to_db);  // makes or migrates the tables
  if (!shared) return shared.error();
  // No garbage collection on any replica while links arrive without their manifests.
  auto quiet = (*shared)->LockAcrossReplicas(LockKind::kMaintenance, "gc/fsck", true);
  if (!quiet) return quiet.error();
  auto checked = sql::Guard([&]() -> Result<void> {
    try {
      postgres::Connection pg(to_db);
      CheckTarget(pg, source_id);
      return {};
    } catch (const ErrorException& e) {
      return e.error;
    }
  });
  if (!checked) return checked.error();
  KEEP_TRY(OfferSecrets(**shared, from_dir, report));
  if (say) say("copying the blobs");
  KEEP_TRY(CopyBlobs(from, to, report, say));
  if (say) {
    say("blobs: " + std::to_string(report.blobs_copied) + " copied (" +
        std::to_string(report.bytes_copied) + " bytes), " + std::to_string(report.blobs_present) +
        " in the store already");
  }
  auto copied = sql::Guard([&]() -> Result<void> {
    try {
      CopyTables(source, source_id, to_db, report, say);
      return {};
    } catch (const ErrorException& e) {
      return e.error;
    }
  });
  if (!copied) return copied.error();
  return report;
}

}  // namespace keep
