// storage/metadata.h — the metadata database: repositories, which blobs a
// repository links, manifests and what they reference, tags, subjects (for
// referrers), upload sessions and users. It is the single source of truth
// for everything but blob bytes.
//
// Thread-safe: any thread may call any method. Reads run on a connection of
// the calling thread; writes are serialised, each one short transaction.
#pragma once

#include "core/digest.h"
#include "core/error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keep {

struct ManifestRecord {
  std::string repo;
  std::string digest;  // "sha256:..."
  std::string media_type;
  std::int64_t size = 0;
  std::string artifact_type;
  std::string subject;  // digest of the subject, or empty
  std::string annotations_json = "{}";
};

// What a manifest PUT writes in one transaction.
struct ManifestWrite {
  ManifestRecord record;
  std::vector<std::string> blobs;      // digests of config and layers
  std::vector<std::string> children;   // digests of child manifests (indexes)
  std::optional<std::string> tag;
};

struct UploadRecord {
  std::string id;
  std::string repo;
  std::int64_t created_at = 0;  // unix seconds
};

struct UserRecord {
  std::int64_t id = 0;
  std::string name;
  std::string password_hash;  // Argon2id, libsodium's encoded string
  bool admin = false;
  bool disabled = false;
};

class Metadata {
 public:
  virtual ~Metadata() = default;

  // Repositories exist once something was pushed to them.
  [[nodiscard]] virtual Result<bool> RepoExists(const std::string& repo) = 0;
  // Names after `after` (exclusive) in lexical order, at most limit.
  [[nodiscard]] virtual Result<std::vector<std::string>> ListRepos(const std::string& after,
                                                                   int limit) = 0;

  // Blobs: a repository links the blobs pushed or mounted into it.
  [[nodiscard]] virtual Result<void> LinkBlob(const std::string& repo, const std::string& digest,
                                              std::int64_t size) = 0;
  // The blob's size when the repository links it.
  [[nodiscard]] virtual Result<std::optional<std::int64_t>> LinkedBlobSize(
      const std::string& repo, const std::string& digest) = 0;
  [[nodiscard]] virtual Result<bool> UnlinkBlob(const std::string& repo,
                                                const std::string& digest) = 0;
  // Of the digests given, those the repository does not link as blobs.
  [[nodiscard]] virtual Result<std::vector<std::string>> MissingBlobs(
      const std::string& repo, const std::vector<std::string>& digests) = 0;
  // Of the digests given, those that are not manifests of the repository.
  [[nodiscard]] virtual Result<std::vector<std::string>> MissingManifests(
      const std::string& repo, const std::vector<std::string>& digests) = 0;

  // Manifests and tags.
  [[nodiscard]] virtual Result<void> PutManifest(const ManifestWrite& write) = 0;
  [[nodiscard]] virtual Result<std::optional<ManifestRecord>> GetManifest(
      const std::string& repo, const std::string& digest) = 0;
  // Tag → the manifest it points at.
  [[nodiscard]] virtual Result<std::optional<ManifestRecord>> GetTagged(const std::string& repo,
                                                                        const std::string& tag) = 0;
  // Deletes the manifest and every tag pointing at it.
  [[nodiscard]] virtual Result<bool> DeleteManifest(const std::string& repo,
                                                    const std::string& digest) = 0;
  [[nodiscard]] virtual Result<bool> DeleteTag(const std::string& repo, const std::string& tag) = 0;
  [[nodiscard]] virtual Result<std::vector<std::string>> ListTags(const std::string& repo,
                                                                  const std::string& after,
                                                                  int limit) = 0;
  [[nodiscard]] virtual Result<std::vector<ManifestRecord>> Referrers(
      const std::string& repo, const std::string& subject) = 0;

  // Upload sessions.
  [[nodiscard]] virtual Result<void> CreateUpload(const std::string& id,
                                                  const std::string& repo) = 0;
  [[nodiscard]] virtual Result<std::optional<UploadRecord>> GetUpload(const std::string& id) = 0;
  [[nodiscard]] virtual Result<void> DeleteUpload(const std::string& id) = 0;
  // Sessions created before `before` (unix seconds).
  [[nodiscard]] virtual Result<std::vector<std::string>> ExpiredUploads(std::int64_t before) = 0;

  // Users.
  [[nodiscard]] virtual Result<std::optional<UserRecord>> GetUser(const std::string& name) = 0;
  [[nodiscard]] virtual Result<std::int64_t> CreateUser(const std::string& name,
                                                        const std::string& password_hash,
                                                        bool admin) = 0;
  [[nodiscard]] virtual Result<bool> SetPasswordHash(const std::string& name,
                                                     const std::string& password_hash) = 0;
  [[nodiscard]] virtual Result<std::int64_t> CountUsers() = 0;
};

// Opens (creating and migrating) the SQLite database at path.
[[nodiscard]] Result<std::unique_ptr<Metadata>> OpenSqliteMetadata(const std::string& path);

}  // namespace keep
