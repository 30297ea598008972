// storage/metadata.h — the metadata database: repositories, which blobs a
// repository links, manifests and what they reference, tags, subjects (for
// referrers), upload sessions, users, robot accounts, namespaces and members. It is the single source of truth
// for everything but blob bytes. What garbage collection and the integrity
// check need of it is at the end of Metadata (storage/gc.h, storage/fsck.h).
//
// Thread-safe: any thread may call any method. Reads run on a connection of
// the calling thread; writes are serialised, each one short transaction.
#pragma once

#include "core/digest.h"
#include "core/error.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

// What a verified signature was (SignatureRecord::format).
inline constexpr const char* kFormatCosign = "cosign";  // a simple-signing layer (.sig tag or referrer)
inline constexpr const char* kFormatGpg = "gpg";        // the signature extension API
inline constexpr const char* kFormatSigstoreBundle = "sigstore-bundle";  // cosign v3
// A sigstore bundle whose statement is not cosign's signing one (an SBOM or
// provenance attestation): verified, kept and served as a referrer, but it
// does not count towards its subject's trust.
inline constexpr const char* kFormatSigstoreAttestation = "sigstore-attestation";
// A signature artifact an upstream published (a sigstore bundle or cosign
// referrer), kept by the curated mirror beside the image it mirrored after it
// verified with the mirror rule's keys. Recorded under the curator's key,
// which vouches for it: served while the curator key is trusted, but it does
// not count towards its subject's trust (the curator's own signature does).
inline constexpr const char* kFormatMirrored = "mirrored";

// The key id recorded, once per artifact, when a signature artifact holds a
// signature that no trusted key verified (beside ones that did, or any in
// a namespace in "open" mode): no key has this id, so it never counts, and
// it keeps the artifact from readers.
inline constexpr const char* kUnverifiedKeyId = "unverified";

// A verified signature: `key_id` signed manifest `target` of `repo`.
struct SignatureRecord {
  std::string repo;
  std::string target;     // the signed manifest's digest
  std::string key_id;
  std::string format;     // one of kFormat*
  std::string signature;  // where it came from: the signature manifest's digest
  std::int64_t verified_at = 0;
  // A keyless signature's: the trust root that vouched for it (its digest,
  // TrustedRoot::digest); empty for a key's. The record counts only while a
  // root of that digest is installed, which `vouched` says when read back.
  std::string trust_root;
  bool vouched = true;
};

// A signature artifact of `repo` that holds a keyless signature whose trust
// root is no longer installed (SignatureRecord::trust_root).
struct UnvouchedSignature {
  std::string repo;
  std::string target;
  std::string signature;
};

// What a manifest PUT writes in one transaction.
struct ManifestWrite {
  ManifestRecord record;
  std::vector<std::string> blobs;      // digests of config and layers
  std::vector<std::string> children;   // digests of child manifests (indexes)
  std::vector<std::string> tags;       // pointed at the manifest in the same transaction
  // A signature artifact's verified signatures (signature = its digest).
  std::vector<SignatureRecord> signatures;
};

struct UploadRecord {
  std::string id;
  std::string repo;
  std::int64_t created_at = 0;  // unix seconds
  std::string owner;            // the user who started it; empty: keepd itself
};

struct UserRecord {
  std::int64_t id = 0;
  std::string name;
  std::string password_hash;  // Argon2id, libsodium's encoded string
  bool admin = false;
  bool disabled = false;
  bool robot = false;
  std::int64_t expires_at = 0;  // unix seconds; 0: never (robots always expire)
  std::int64_t created_at = 0;
  std::string created_by;
};

// A robot account's permission in one namespace ("pull", "push", "delete").
struct RobotScope {
  std::string ns;
  std::vector<std::string> actions;
};

struct RobotRecord {
  UserRecord account;
  std::vector<RobotScope> scopes;
};

// A namespace's trust policy (the Trust model in DESIGN.md).
struct TrustPolicy {
  std::string mode = "quarantine";  // "quarantine", "strict" or "open"
  std::int64_t threshold = 1;       // distinct trusted keys a manifest needs
  std::int64_t quarantine_ttl = 24 * 3600;  // seconds an unsigned manifest is kept
};

struct NamespaceRecord {
  std::string name;
  bool anonymous_pull = false;
  std::int64_t created_at = 0;
  std::string created_by;
  std::int64_t repositories = 0;  // how many repositories it holds
  TrustPolicy policy;
  // Unix seconds when the policy last became stricter (created, left
  // "open", a higher threshold, a key revoked): a quarantine TTL counts
  // from no earlier, so that nothing readable before is deleted at once.
  std::int64_t policy_since = 0;
};

// A publisher key a namespace trusts (PEM public key).
struct PublisherKeyRecord {
  std::string ns;
  std::string key_id;     // hex SHA-256 of the canonical DER SubjectPublicKeyInfo
                          // (trust/keys.h), or an OpenPGP key's fingerprint
  std::string name;
  std::string algorithm;  // "ecdsa-p256", "ed25519"
  std::string pem;
  std::string added_by;
  std::int64_t added_at = 0;
  bool revoked = false;
};

// A keyless signer a namespace trusts (trust/keyless.h, KeylessIdentity):
// an OIDC issuer and a subject (exact, or a regular expression that must
// match it whole), with the Fulcio certificate extensions it requires.
struct TrustedIdentityRecord {
  std::string ns;
  std::string name;  // counts once toward the threshold, as IdentitySignerId(name)
  std::string issuer;
  std::string subject;                 // exactly this subject, or empty ...
  std::string subject_regex;           // ... and this expression instead
  std::string extensions_json = "{}";  // {"<OID or name>": "<value>", ...}
  std::string added_by;
  std::int64_t added_at = 0;
  bool revoked = false;
};

// The signer id a keyless signature verified for identity `name` is
// recorded under (SignatureRecord::key_id). No key id has this form (they
// are hex), so an identity and a key never count as one another.
inline constexpr std::string_view kIdentitySignerPrefix = "identity:";
inline std::string IdentitySignerId(std::string_view name) {
  return std::string(kIdentitySignerPrefix) + std::string(name);
}

// A sigstore trust root the registry verifies keyless signatures against
// (trust/trusted_root.h): several may be installed, each by name.
struct TrustRootRecord {
  std::string name;
  std::string content;  // the trusted_root.json text, as given
  std::string added_by;
  std::int64_t added_at = 0;
  std::string digest;  // of content, "sha256:<hex>", as the store computed it
};

// The ids of a publisher key's material besides its key_id (as
// trust/key_material.h computes them from its algorithm and pem); empty when
// it has no others, or when they cannot be told (a stored key that no longer
// parses: it is then known by its key_id alone, and verifies nothing).
using KeyMaterialOf = std::function<std::vector<std::string>(const PublisherKeyRecord& key)>;

// A signature stored through the signature extension API (GPG simple
// signing): the client's name for it and the OpenPGP message, base64.
struct StoredSignature {
  std::string name;     // "<digest>@<32 hex>"
  std::string content;  // base64 of the binary OpenPGP signed message
};

// A manifest its namespace's policy does not (yet) trust.
struct QuarantinedManifest {
  std::string repo;
  std::string digest;
  std::string media_type;
  std::int64_t pushed_at = 0;
  std::vector<std::string> tags;
};

struct MemberRecord {
  std::string user;
  std::string role;  // "reader", "publisher" or "maintainer"
};

struct Membership {
  std::string ns;
  std::string role;
};

// What the database says about one account in one namespace: everything an
// access decision needs, read in one query.
struct NamespaceAccess {
  bool exists = false;           // the namespace was created
  bool anonymous_pull = false;
  std::string role;              // the account's role, or empty
  std::optional<std::vector<std::string>> robot_actions;  // a robot's scope here
  TrustPolicy policy;            // the namespace's (the default when not created)
};

// A repository's link to a blob.
struct BlobLink {
  std::string repo;
  std::string digest;
  std::int64_t size = 0;
};

// What garbage collection keeps of a repository (storage/gc.h): manifests
// reachable from its roots, and blob links that a kept manifest references
// or that are younger than the cutoff.
struct SweepPolicy {
  std::int64_t cutoff = 0;       // unix seconds: what was pushed at or after it is young
  bool delete_untagged = true;   // false: every manifest is a root
  // Unix seconds now. In a created namespace whose trust policy is not
  // "open", a tagged manifest that is still untrusted `quarantine_ttl`
  // after its push is no root: quarantined past its TTL, it is collected.
  std::int64_t now = 0;
};

// What a sweep of one repository removed (or, in a dry run, would remove).
struct RepoSweep {
  std::vector<std::string> manifests;  // digests
  std::vector<BlobLink> links;
};

// One reference a manifest makes, and whether the repository holds its target.
struct ManifestRef {
  enum class Kind { kBlob, kChild, kSelf };  // config/layer, child manifest, own bytes
  std::string manifest;
  std::string target;
  Kind kind = Kind::kBlob;
  bool present = false;  // kBlob, kSelf: the repository links it; kChild: a manifest of it
};

// A mirror rule as stored (mirror/rule.h gives `spec` its meaning): the
// rule's JSON without credentials, and the credentials sealed with a key
// that is not in the database (mirror/secrets.h).
struct MirrorRecord {
  std::string name;
  std::string spec;    // JSON text
  std::string sealed;  // base64 of the sealed credentials, or empty
  std::int64_t created_at = 0;
  std::string created_by;
  std::int64_t updated_at = 0;
};

// What the mirror knows of one tag of one repository of a rule.
struct MirrorTagRecord {
  std::string rule;
  std::string repository;  // local
  std::string tag;
  std::string digest;   // the digest synced (served), or empty
  std::string pending;  // a newer upstream digest held for approval, or empty
  std::string state;    // "synced", "refused", "held"
  std::string reason;   // why refused or held; empty when synced
  std::int64_t updated_at = 0;
};

// What the metadata says is stored (Metadata::Usage).
struct StorageUsage {
  // The sizes of the distinct blobs linked and manifests recorded: each
  // digest once, however many repositories hold it.
  std::int64_t stored_bytes = 0;
  std::int64_t upload_sessions = 0;  // started, not yet finished or cancelled
};

// One event of the audit log as stored (core/audit.h says what the fields
// mean). Refusals that repeat are folded into one row: `count` of them, the
// first at `time_ms`, the last at `last_ms`.
struct AuditEntry {
  std::int64_t id = 0;  // grows with every event; never reused
  std::int64_t time_ms = 0;
  std::string actor;
  std::string source;
  std::string action;
  std::string ns;
  std::string target;
  std::string outcome;
  std::string details;  // JSON object text
  std::int64_t count = 1;
  std::int64_t last_ms = 0;
  // Written by AppendAudit: fold into the newest row of the same action,
  // actor, source, namespace, target and outcome newer than coalesce_ms.
  bool coalesce = false;
};

// Which events QueryAudit returns: all of these that are set must match.
struct AuditQuery {
  std::optional<std::string> ns;
  std::optional<std::string> actor;
  std::optional<std::string> action;         // exact
  std::optional<std::string> action_prefix;  // "key." matches key.add and key.remove
  std::int64_t since_ms = 0;                 // time_ms >= since_ms
  std::optional<std::int64_t> until_ms;      // time_ms < until_ms
  std::optional<std::int64_t> before_id;     // id < before_id (the next page)
  int limit = 100;
};

// What a lock across replicas guards; each kind is a space of its own.
enum class LockKind {
  kBlob,         // a blob's file and its links (storage/links.h)
  kUpload,       // an upload session, written by one request at a time
  kMaintenance,  // the one garbage collection or integrity check
  kStart,        // start-up work done once (the first admin)
};

// Held until destroyed.
class ReplicaLock {
 public:
  virtual ~ReplicaLock() = default;
};

class Metadata {
 public:
  virtual ~Metadata() = default;

  // Repositories exist once something was pushed to them.
  [[nodiscard]] virtual Result<bool> RepoExists(const std::string& repo) = 0;
  // Names after `after` (exclusive) in lexical order, at most limit; with
  // `namespaces`, only repositories in those namespaces.
  [[nodiscard]] virtual Result<std::vector<std::string>> ListRepos(
      const std::string& after, int limit,
      const std::optional<std::vector<std::string>>& namespaces = std::nullopt) = 0;

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
  // Refuses with kManifestBlobUnknown, inside the write, when a blob the
  // manifest references is not linked or a child is not a manifest of the
  // repository: a check made before may be outdated by garbage collection.
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
  // Records a session `owner` started (empty: keepd itself). With
  // max_per_owner above 0, false (and nothing recorded) when the owner has
  // that many sessions already: the count and the insert are one step.
  [[nodiscard]] virtual Result<bool> CreateUpload(const std::string& id, const std::string& repo,
                                                  const std::string& owner,
                                                  std::int64_t max_per_owner) = 0;
  // The sessions `owner` started, oldest first.
  [[nodiscard]] virtual Result<std::vector<UploadRecord>> UploadsOf(const std::string& owner) = 0;
  [[nodiscard]] virtual Result<std::optional<UploadRecord>> GetUpload(const std::string& id) = 0;
  [[nodiscard]] virtual Result<void> DeleteUpload(const std::string& id) = 0;
  // Sessions created before `before` (unix seconds).
  [[nodiscard]] virtual Result<std::vector<std::string>> ExpiredUploads(std::int64_t before) = 0;

  // Users and robot accounts. Names are unique across both.
  [[nodiscard]] virtual Result<std::optional<UserRecord>> GetUser(const std::string& name) = 0;
  // Fails with kConflict when the name is taken.
  [[nodiscard]] virtual Result<std::int64_t> CreateUser(const UserRecord& user) = 0;
  [[nodiscard]] virtual Result<bool> SetPasswordHash(const std::string& name,
                                                     const std::string& password_hash) = 0;
  // Changes the given flags; false when there is no such user (robots excluded).
  [[nodiscard]] virtual Result<bool> UpdateUser(const std::string& name,
                                                std::optional<bool> disabled,
                                                std::optional<bool> admin) = 0;
  [[nodiscard]] virtual Result<std::int64_t> CountUsers() = 0;
  [[nodiscard]] virtual Result<std::vector<UserRecord>> ListUsers() = 0;  // not robots

  // Robots: an account with robot=true plus its scopes, written together.
  [[nodiscard]] virtual Result<void> CreateRobot(const RobotRecord& robot) = 0;
  [[nodiscard]] virtual Result<std::vector<RobotRecord>> ListRobots() = 0;
  // Deletes the robot and its scopes; false when there is none of that name.
  [[nodiscard]] virtual Result<bool> DeleteRobot(const std::string& name) = 0;

  // Namespaces and their members.
  // Fails with kConflict when it exists.
  [[nodiscard]] virtual Result<void> CreateNamespace(const NamespaceRecord& ns) = 0;
  [[nodiscard]] virtual Result<std::optional<NamespaceRecord>> GetNamespace(
      const std::string& name) = 0;
  // All namespaces, or (member_id set) those that account is a member of.
  [[nodiscard]] virtual Result<std::vector<NamespaceRecord>> ListNamespaces(
      std::optional<std::int64_t> member_id) = 0;
  [[nodiscard]] virtual Result<bool> SetAnonymousPull(const std::string& name, bool on) = 0;
  // Deletes the namespace and its memberships. kConflict while a repository
  // in it holds manifests; false when there was no such namespace.
  [[nodiscard]] virtual Result<bool> DeleteNamespace(const std::string& name) = 0;
  [[nodiscard]] virtual Result<void> SetMember(const std::string& ns, std::int64_t user_id,
                                               const std::string& role) = 0;
  [[nodiscard]] virtual Result<bool> RemoveMember(const std::string& ns,
                                                  std::int64_t user_id) = 0;
  [[nodiscard]] virtual Result<std::vector<MemberRecord>> ListMembers(const std::string& ns) = 0;
  // Every membership of the account.
  [[nodiscard]] virtual Result<std::vector<Membership>> MembershipsOf(
      std::int64_t user_id) = 0;
  // user_id 0: anonymous.
  [[nodiscard]] virtual Result<NamespaceAccess> AccessIn(const std::string& ns,
                                                         std::int64_t user_id) = 0;
  // false when there is no such namespace. A stricter mode or a higher
  // threshold restarts its quarantine clock (NamespaceRecord::policy_since).
  [[nodiscard]] virtual Result<bool> SetPolicy(const std::string& ns,
                                               const TrustPolicy& policy) = 0;

  // Trust: publisher keys, verified signatures, and what they make servable.
  // kConflict when the namespace has that key already (revoked or not): a
  // key with its key_id, or one sharing any of its key material, as
  // `material_of` tells for both (a PEM key and an OpenPGP certificate
  // holding it, two certificates sharing a subkey). The message names the
  // key the namespace has: its name, its id, and whether it is revoked.
  // `material_of` runs inside the write transaction, once per key of the
  // namespace and once for `key`.
  [[nodiscard]] virtual Result<void> AddKey(const PublisherKeyRecord& key,
                                            const KeyMaterialOf& material_of) = 0;
  // The namespace's key with that id, revoked or not; nullopt when none.
  [[nodiscard]] virtual Result<std::optional<PublisherKeyRecord>> GetKey(
      const std::string& ns, const std::string& key_id) = 0;
  [[nodiscard]] virtual Result<std::vector<PublisherKeyRecord>> ListKeys(
      const std::string& ns) = 0;
  // false when the namespace has no such key. Restarts the namespace's
  // quarantine clock (NamespaceRecord::policy_since).
  [[nodiscard]] virtual Result<bool> RevokeKey(const std::string& ns,
                                               const std::string& key_id) = 0;
  // Keyless identities, managed like keys: kConflict when the namespace has
  // an identity of that name already, revoked or not (a revoked name would
  // make the signatures recorded under it count again).
  [[nodiscard]] virtual Result<void> AddIdentity(const TrustedIdentityRecord& identity) = 0;
  [[nodiscard]] virtual Result<std::optional<TrustedIdentityRecord>> GetIdentity(
      const std::string& ns, const std::string& name) = 0;
  [[nodiscard]] virtual Result<std::vector<TrustedIdentityRecord>> ListIdentities(
      const std::string& ns) = 0;
  // false when the namespace has no such identity. Restarts the namespace's
  // quarantine clock, as RevokeKey does.
  [[nodiscard]] virtual Result<bool> RevokeIdentity(const std::string& ns,
                                                    const std::string& name) = 0;
  // Trust roots: SetTrustRoot inserts or replaces by name; DeleteTrustRoot
  // is false when there is none of that name.
  [[nodiscard]] virtual Result<void> SetTrustRoot(const TrustRootRecord& root) = 0;
  [[nodiscard]] virtual Result<std::vector<TrustRootRecord>> ListTrustRoots() = 0;
  [[nodiscard]] virtual Result<bool> DeleteTrustRoot(const std::string& name) = 0;
  // Signature artifacts with a keyless record whose trust root is not
  // installed (removed, or replaced by other content), at most `limit`,
  // after the one named by (`after_repo`, `after_signature`).
  [[nodiscard]] virtual Result<std::vector<UnvouchedSignature>> UnvouchedSignatures(
      const std::string& after_repo, const std::string& after_signature, std::size_t limit) = 0;
  // Replaces the records of signature artifact `signature` in `repo` with
  // `records` (what verifying it again found), in one transaction; when the
  // artifact was deleted meanwhile, records nothing.
  [[nodiscard]] virtual Result<void> ReplaceSignatureRecords(
      const std::string& repo, const std::string& signature,
      const std::vector<SignatureRecord>& records) = 0;
  // Extension-API signatures of `target` in `repo`: stored (with the
  // verified record, when there is one, in the same transaction) and listed.
  [[nodiscard]] virtual Result<void> StoreSignature(const std::string& repo,
                                                    const std::string& target,
                                                    const StoredSignature& signature,
                                                    const std::optional<SignatureRecord>& verified) = 0;
  [[nodiscard]] virtual Result<std::vector<StoredSignature>> StoredSignatures(
      const std::string& repo, const std::string& target) = 0;
  // Signatures of `target` in `repo`, with keys revoked since included.
  [[nodiscard]] virtual Result<std::vector<SignatureRecord>> SignaturesOf(
      const std::string& repo, const std::string& target) = 0;
  // What a reader may receive (DESIGN.md, "What a caller may receive"),
  // from recorded verification results only: a manifest of `repo` is
  // trusted when at least `threshold` distinct, unrevoked signers of its
  // namespace (keys, and identities under IdentitySignerId) signed it, when a trusted index of the
  // repository references it, or when it is a signature artifact of a trusted manifest every
  // signature of which a still-trusted key verified. A blob is servable when
  // it is a trusted manifest or a trusted manifest references it. Deleting a
  // signature artifact deletes its records.
  [[nodiscard]] virtual Result<bool> IsTrusted(const std::string& repo, const std::string& digest,
                                               std::int64_t threshold) = 0;
  [[nodiscard]] virtual Result<bool> IsServableBlob(const std::string& repo,
                                                    const std::string& digest,
                                                    std::int64_t threshold) = 0;
  // Whether any manifest of `repo` is trusted.
  [[nodiscard]] virtual Result<bool> HasTrusted(const std::string& repo,
                                                std::int64_t threshold) = 0;
  // The manifests of `repo` that are not trusted (signature artifacts aside).
  [[nodiscard]] virtual Result<std::vector<QuarantinedManifest>> Quarantined(
      const std::string& repo, std::int64_t threshold) = 0;
  // The tags of `repo` whose manifests are trusted, in byte order.
  [[nodiscard]] virtual Result<std::vector<std::string>> TrustedTags(const std::string& repo,
                                                                     std::int64_t threshold) = 0;
  // The digests of the trusted referrers of `subject` in `repo`, in byte order.
  [[nodiscard]] virtual Result<std::vector<std::string>> TrustedReferrers(
      const std::string& repo, const std::string& subject, std::int64_t threshold) = 0;

  // Garbage collection and integrity.
  // Finds what of the repository no root reaches (see SweepPolicy) and,
  // unless dry_run, deletes it: one write transaction that decides and
  // deletes together, so a concurrent push is either seen or refused.
  [[nodiscard]] virtual Result<RepoSweep> SweepRepository(const std::string& repo,
                                                          const SweepPolicy& policy,
                                                          bool dry_run) = 0;
  // How many repositories link the blob.
  [[nodiscard]] virtual Result<std::int64_t> CountLinks(const std::string& digest) = 0;
  // Every link, in (digest, repo) order after `after`, at most limit.
  [[nodiscard]] virtual Result<std::vector<BlobLink>> ListLinks(const BlobLink& after,
                                                                int limit) = 0;
  // Removes every repository's link to the blob; returns the repositories.
  [[nodiscard]] virtual Result<std::vector<std::string>> DropLinks(const std::string& digest) = 0;
  // Every reference of every manifest of the repository, own bytes included.
  [[nodiscard]] virtual Result<std::vector<ManifestRef>> ManifestRefs(
      const std::string& repo) = 0;

  // Mirror rules and what they synced. CreateMirror: kConflict when the
  // name is taken; UpdateMirror, DeleteMirror: false when there is none
  // (deleting a rule deletes its tag records, not what it stored).
  [[nodiscard]] virtual Result<void> CreateMirror(const MirrorRecord& rule) = 0;
  [[nodiscard]] virtual Result<bool> UpdateMirror(const MirrorRecord& rule) = 0;
  [[nodiscard]] virtual Result<std::optional<MirrorRecord>> GetMirror(const std::string& name) = 0;
  [[nodiscard]] virtual Result<std::vector<MirrorRecord>> ListMirrors() = 0;
  [[nodiscard]] virtual Result<bool> DeleteMirror(const std::string& name) = 0;
  // Writes (inserts or replaces) the record of one tag of a rule.
  [[nodiscard]] virtual Result<void> PutMirrorTag(const MirrorTagRecord& tag) = 0;
  [[nodiscard]] virtual Result<std::optional<MirrorTagRecord>> GetMirrorTag(
      const std::string& rule, const std::string& repository, const std::string& tag) = 0;
  // A rule's tag records, by repository and tag.
  [[nodiscard]] virtual Result<std::vector<MirrorTagRecord>> MirrorTags(
      const std::string& rule) = 0;

  // The audit log (core/audit.h). Appends the entries in one transaction;
  // those marked `coalesce` are folded into a row written since
  // `coalesce_since_ms` when there is one.
  [[nodiscard]] virtual Result<void> AppendAudit(const std::vector<AuditEntry>& entries,
                                                 std::int64_t coalesce_since_ms) = 0;
  // Newest first (by id), at most q.limit.
  [[nodiscard]] virtual Result<std::vector<AuditEntry>> QueryAudit(const AuditQuery& q) = 0;
  // Deletes the events older than `before_ms`, then the oldest past the
  // newest `keep_at_most`. Returns how many went.
  [[nodiscard]] virtual Result<std::int64_t> PruneAudit(std::int64_t before_ms,
                                                        std::int64_t keep_at_most) = 0;

  // Backups. Writes a consistent copy of the whole database, as of one
  // moment, to a new file at `path` (which must not exist), while requests
  // go on. The copy is not synced: the caller does that.
  [[nodiscard]] virtual Result<void> Snapshot(const std::string& path) = 0;

  // Readiness (GET /readyz): the database answers a trivial query, and its
  // files are still where they were and writable (not deleted or moved away
  // under keepd, not made immutable, not on a filesystem turned read-only).
  // Cheap: no write, nothing read but the schema. The error says what failed
  // and where, for the log.
  [[nodiscard]] virtual Result<void> CheckReady() = 0;

  // What is stored, for GET /metrics: one read. It scans the links, so the
  // server asks at most every few seconds, never per request.
  [[nodiscard]] virtual Result<StorageUsage> Usage() = 0;

  // Replicas (keepd processes sharing a PostgreSQL database).
  //
  // Takes the lock `key` of `kind`, which every keepd on this database
  // sees: with `wait`, once it is free; without, nullptr when another request
  // (here or on another replica) holds it. It holds until the ReplicaLock is
  // destroyed. On SQLite, which one keepd owns, it is a lock of this process.
  [[nodiscard]] virtual Result<std::unique_ptr<ReplicaLock>> LockAcrossReplicas(
      LockKind kind, const std::string& key, bool wait) = 0;
  // A secret every replica must share (the token key, the curator key): the
  // value stored under `name`, which is `offer` when no replica stored one
  // before. kUnsupported on SQLite, whose keepd keeps its secrets in files.
  [[nodiscard]] virtual Result<std::string> SharedSecret(const std::string& name,
                                                         const std::string& offer) = 0;
};

// A publisher key's canonical id and PEM (trust/keys.h).
struct CanonicalKeyForm {
  std::string key_id;
  std::string pem;
};
// Given a stored key's algorithm and PEM, its canonical form; nullopt leaves
// the key as it is (an OpenPGP key, or one that no longer parses).
using KeyCanonicalizer =
    std::function<std::optional<CanonicalKeyForm>(const std::string& algorithm,
                                                  const std::string& pem)>;

// Opens (creating and migrating) the SQLite database at path. Upgrading a
// database of schema 3 that holds publisher keys renames them by their
// canonical form (storage/sqlite_key_ids.h), which takes `canonical`; without
// it such a database is refused (kInternal, saying so).
[[nodiscard]] Result<std::unique_ptr<Metadata>> OpenSqliteMetadata(
    const std::string& path, const KeyCanonicalizer& canonical = {});

// A PostgreSQL database that several keepd replicas share.
struct PostgresOptions {
  // libpq's connection string, keywords or a postgresql:// URI, without the password.
  std::string conninfo;
  std::string password;  // from the environment or a file, never the configuration
  // The schema keepd's tables live in, made if missing: several registries
  // can share one database. [a-z_][a-z0-9_]*, at most 63 characters.
  std::string schema = "public";
  int connect_timeout_seconds = 10;
};

// Connects to the PostgreSQL database, creating or migrating keepd's tables
// (one migration at a time, under a lock that other replicas wait on).
[[nodiscard]] Result<std::unique_ptr<Metadata>> OpenPostgresMetadata(
    const PostgresOptions& options);

}  // namespace keep
