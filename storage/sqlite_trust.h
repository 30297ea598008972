// storage/sqlite_trust.h — the trust tables of the SQLite metadata database:
// publisher keys and keyless identities of each namespace, the trust roots,
// verified signatures, and the queries
// that decide which manifests and blobs are servable. Internal to storage/.
//
// Thread-safe, as the Database it uses.
#pragma once

#include "storage/metadata.h"
#include "storage/sql.h"

namespace keep::sql {

class TrustTables {
 public:
  explicit TrustTables(Database& db) : db_(db) {}

  // Creates the tables and upgrades them from schema `from` (0: a new
  // database). REQUIRES: inside the schema transaction.
  static void Migrate(Connection& c, int from);

  // The trusted manifests of repository `repo_id` (see Metadata::IsTrusted),
  // read on `c` (e.g. inside the caller's snapshot or write).
  static std::vector<std::string> TrustedSet(Connection& c, std::int64_t repo_id,
                                             std::string_view ns, std::int64_t threshold);

  // Records a verified signature (or kUnverifiedKeyId's mark) with the
  // artifact it came from. REQUIRES: inside a write transaction on c.
  static void Record(Connection& c, const SignatureRecord& sig);

  Result<void> AddKey(const PublisherKeyRecord& key, const KeyMaterialOf& material_of);
  Result<std::optional<PublisherKeyRecord>> GetKey(const std::string& ns,
                                                   const std::string& key_id);
  Result<std::vector<PublisherKeyRecord>> ListKeys(const std::string& ns);
  Result<bool> RevokeKey(const std::string& ns, const std::string& key_id);
  Result<void> AddIdentity(const TrustedIdentityRecord& identity);
  Result<std::optional<TrustedIdentityRecord>> GetIdentity(const std::string& ns,
                                                           const std::string& name);
  Result<std::vector<TrustedIdentityRecord>> ListIdentities(const std::string& ns);
  Result<bool> RevokeIdentity(const std::string& ns, const std::string& name);
  Result<void> SetTrustRoot(const TrustRootRecord& root);
  Result<std::vector<TrustRootRecord>> ListTrustRoots();
  Result<bool> DeleteTrustRoot(const std::string& name);
  Result<std::vector<UnvouchedSignature>> UnvouchedSignatures(const std::string& after_repo,
                                                              const std::string& after_signature,
                                                              std::size_t limit);
  Result<void> ReplaceSignatureRecords(const std::string& repo, const std::string& signature,
                                       const std::vector<SignatureRecord>& records);
  Result<void> StoreSignature(const std::string& repo, const std::string& target,
                              const StoredSignature& signature,
                              const std::optional<SignatureRecord>& verified);
  Result<std::vector<StoredSignature>> StoredSignatures(const std::string& repo,
                                                        const std::string& target);
  Result<std::vector<SignatureRecord>> SignaturesOf(const std::string& repo,
                                                    const std::string& target);
  Result<bool> IsTrusted(const std::string& repo, const std::string& digest,
                         std::int64_t threshold);
  Result<bool> IsServableBlob(const std::string& repo, const std::string& digest,
                              std::int64_t threshold);
  Result<bool> HasTrusted(const std::string& repo, std::int64_t threshold);
  Result<std::vector<std::string>> TrustedTags(const std::string& repo, std::int64_t threshold);
  Result<std::vector<std::string>> TrustedReferrers(const std::string& repo,
                                                    const std::string& subject,
                                                    std::int64_t threshold);
  Result<std::vector<QuarantinedManifest>> Quarantined(const std::string& repo,
                                                       std::int64_t threshold);

 private:
  Database& db_;
};

}  // namespace keep::sql
