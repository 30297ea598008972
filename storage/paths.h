// storage/paths.h — the one place that builds file names under the data
// directory. Only validated values (Digest, server-made upload ids) reach it.
//
//   <data_dir>/
//     metadata.db                 SQLite metadata (WAL: -wal beside it; its index is in
//                                 keepd's memory, so keepd holds the database exclusively)
//     tls/server.crt, server.key  the self-signed certificate, when made
//     blobs/
//       sha256/<hex[0:2]>/<hex>   committed blobs, never modified
//       sha512/<hex[0:2]>/<hex>
//     uploads/<id>                bytes of an upload session, appended to
//     tmp/<random>                blobs being written, renamed into blobs/
//     backups/metadata-<UTC time>.db   copies of metadata.db (keepctl backup)
//     quarantine/<alg>-<hex>.<unix time>   blob files the integrity check found
//                                 corrupt, moved out of blobs/ for a person to look at
#pragma once

#include "core/digest.h"

#include <string>

namespace keep::paths {

inline std::string BlobsDir(const std::string& root) { return root + "/blobs"; }
inline std::string BlobDir(const std::string& root, const Digest& d) {
  return root + "/blobs/" + std::string(d.algorithm_name()) + "/" + d.hex().substr(0, 2);
}
inline std::string Blob(const std::string& root, const Digest& d) {
  return BlobDir(root, d) + "/" + d.hex();
}
inline std::string UploadsDir(const std::string& root) { return root + "/uploads"; }
inline std::string BackupsDir(const std::string& root) { return root + "/backups"; }
inline std::string Upload(const std::string& root, const std::string& id) {
  return root + "/uploads/" + id;
}
inline std::string TmpDir(const std::string& root) { return root + "/tmp"; }
inline std::string QuarantineDir(const std::string& root) { return root + "/quarantine"; }
inline std::string Quarantined(const std::string& root, const Digest& d, long long when) {
  return QuarantineDir(root) + "/" + std::string(d.algorithm_name()) + "-" + d.hex() + "." +
         std::to_string(when);
}

}  // namespace keep::paths
