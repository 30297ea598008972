#include "tests/crash/inspect.h"

#include "core/digest.h"

#include <sqlite3.h>

#include <fstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxLogLines = 40;

// The rows `sql` returns, one string per row (columns joined by " ").
std::vector<std::string> Rows(sqlite3* db, const char* sql) {
  std::vector<std::string> rows;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
    return {std::string(sql) + ": " + sqlite3_errmsg(db)};
  }
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      auto text = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
      row += (i ? " " : "") + std::string(text ? text : "NULL");
    }
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) rows.push_back(std::string(sql) + ": " + sqlite3_errmsg(db));
  sqlite3_finalize(s);
  return rows;
}

// The digest of a file's content, by the algorithm of `named`.
std::string HashOfFile(const fs::path& file, const Digest& named) {
  std::ifstream in(file, std::ios::binary);
  Hasher h(named.algorithm());
  std::string buf(1 << 16, '\0');
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    h.Update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return h.Finish().str();
}

}  // namespace

std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  return files;
}

std::string CheckDatabase(const fs::path& path) {
  sqlite3* db = nullptr;
  // As keepd opens it (storage/sqlite.cc): the wal-index in memory, so that a
  // WAL left behind on a full disk is read without making a -shm file there.
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, "unix-excl") != SQLITE_OK) {
    std::string msg = "cannot open " + path.string() + ": " + (db ? sqlite3_errmsg(db) : "");
    sqlite3_close(db);
    return msg;
  }
  sqlite3_busy_timeout(db, 10000);
  std::string found;
  std::vector<std::string> integrity = Rows(db, "PRAGMA integrity_check");
  if (integrity != std::vector<std::string>{"ok"}) {
    for (const auto& r : integrity) found += "integrity_check: " + r + "\n";
  }
  for (const auto& r : Rows(db, "PRAGMA foreign_key_check")) {
    found += "foreign_key_check: " + r + "\n";
  }
  sqlite3_close(db);
  return found.empty() ? "ok" : found;
}

BlobTreeReport RehashBlobTree(const fs::path& data_dir) {
  BlobTreeReport report;
  const fs::path root = data_dir / "blobs";
  for (const fs::path& file : FilesUnder(root)) {
    ++report.checked;
    // blobs/<algorithm>/<first two hex digits>/<hex>
    fs::path rel = file.lexically_relative(root);
    std::vector<std::string> parts(rel.begin(), rel.end());
    auto named = parts.size() == 3 ? Digest::Parse(parts[0] + ":" + parts[2])
                                   : Digest::Parse("");
    if (!named || parts[1] != named->hex().substr(0, 2)) {
      report.problems.push_back(rel.string() + ": not a blob's place in the tree");
      continue;
    }
    std::string actual = HashOfFile(file, *named);
    if (actual != named->str()) {
      report.problems.push_back(rel.string() + ": " + std::to_string(fs::file_size(file)) +
                                " bytes hashing to " + actual);
    }
  }
  return report;
}

std::string LogLinesAbout(const KeepdProcess& keepd, const std::vector<std::string>& needles) {
  std::string out;
  std::size_t n = 0;
  for (const auto& line : keepd.RequestLog()) {
    std::string path = line.value("path", "");
    for (const auto& needle : needles) {
      if (path.find(needle) == std::string::npos) continue;
      if (n++ < kMaxLogLines) out += "    " + line.dump() + "\n";
      break;
    }
  }
  if (n > kMaxLogLines) out += "    (" + std::to_string(n - kMaxLogLines) + " more)\n";
  return out.empty() ? "    (no request log line mentions it)\n" : out;
}

}  // namespace keep::testkit
