// tests/crash/inspect.h — looks inside a keepd for the damage a crash or a
// full disk could do: its data directory (layout in storage/paths.h), and
// its request log for the evidence.
#pragma once

#include "tests/support/keepd_process.h"

#include <filesystem>
#include <string>
#include <vector>

namespace keep::testkit {

// Regular files under dir, recursively; none when dir does not exist.
std::vector<std::filesystem::path> FilesUnder(const std::filesystem::path& dir);

// "ok" when SQLite's integrity_check and foreign_key_check find nothing in
// the database (opened as keepd opens it, which must not be running);
// otherwise what they found.
std::string CheckDatabase(const std::filesystem::path& db);

struct BlobTreeReport {
  int checked = 0;
  std::vector<std::string> problems;  // a file whose place or content is not its digest
};

// Re-hashes every file under <data>/blobs and compares it with its name.
BlobTreeReport RehashBlobTree(const std::filesystem::path& data_dir);

// keepd's request log lines (indented, at most 40) whose path mentions any of the needles.
std::string LogLinesAbout(const KeepdProcess& keepd, const std::vector<std::string>& needles);

}  // namespace keep::testkit
