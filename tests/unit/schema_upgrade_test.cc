// Upgrades from every earlier schema, with content: a database made as
// schema 1, 2 or 3 made it (tests/unit/schemas/v<N>.sql, its tables taken
// from the commit that defined them) opens with the current code, and what
// it held is still there and behaves: people sign in with their passwords,
// tags resolve, blobs stay linked, keys get canonical ids and signatures
// follow them, and each namespace's trust state is what the upgrade
// promises (CHANGELOG.md, "Upgrading").
#include "auth/auth.h"
#include "core/base64.h"
#include "core/clock.h"
#include "storage/metadata.h"
#include "trust/keys.h"

#include "schema_test_support.h"
#include "trust_testdata.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace keep {
namespace {

using schema_test::Canonical;
using schema_test::Fixture;
using schema_test::FreshDir;
using schema_test::Sql;

constexpr std::int64_t kDay = 24 * 3600;

// The digests the fixtures use (each the SHA-256 of a label).
constexpr const char* kV1Image =
    "sha256:fb52cbc8d3dbf518992128cf522607621555ae9c83dcd6604a6d8a2fdcf00dfe";
constexpr const char* kV1Layer =
    "sha256:ff6bec04c07e20b560b414663f7c5e0e09f69365d73672f98217f501a53dc855";
constexpr const char* kV1Base =
    "sha256:c0ff69a4ced6e306c2dc77aa2bbd045de29a0fa91e9359c35dbccd3aa8c52002";
constexpr const char* kV2Image =
    "sha256:0ea89843fc1832805c68488ea44da59494f8ebafe1f99d6cd0eb5efb0f203b4a";
constexpr const char* kV2Index =
    "sha256:8c5d41805a663fb769191f44e5637f575b791276b5fd18e6dfc1c7eb1e7f44aa";
constexpr const char* kV2Layer =
    "sha256:d59a16b8ed1e2e555165752c3f04c8dfb0628fbb4ccfed44c38d87bfe72bb89a";
constexpr const char* kV2Tool =
    "sha256:aa0e91b3e590d82500edd182a022143cf5ab7d15653e35bdf6f8a7864cdcfb7f";
constexpr const char* kV3Signed =
    "sha256:ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef";
constexpr const char* kV3Signature =
    "sha256:305d430edb2f360b9936feaf2345c2b8c01fdf6dedf5f6c2fda8d009c078f22e";
constexpr const char* kV3Unsigned =
    "sha256:4372a52f3125d74307b834101ac8c721ec499647f2e6e962aa7e376a8f7c7b19";
constexpr const char* kV3Gpg =
    "sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f";
constexpr const char* kV3Layer =
    "sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c";
constexpr const char* kV3Strict =
    "sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a";
constexpr const char* kV3Open =
    "sha256:c5d9d44e32311d39a6061e0ac2f0498161ca56d8c90f6c5a47c75bf67398e465";
// ids schema 3 gave: ecdsa.pub's DER as sent compressed, and with explicit
// parameters; ed25519.pub (canonical already); the OpenPGP fingerprint.
constexpr const char* kV3CompressedId =
    "52049a0ff57485e04be1d0020ec91e98c75e2f37f35065472ab2e5283507cd16";
constexpr const char* kV3ExplicitId =
    "451260d7a978f3e6bd60f1605d0ff061674f198ef7643ecc2ac99dad3c5f8d85";
constexpr const char* kEd25519Id =
    "abe3414936b9bf0819676a340780860779c0f19332c4bf4ba0aa861268249133";
constexpr const char* kGpgFingerprint = "05AEFE0E87DB63C26BD15AF509F6CDBC5DEB27FC";

// A database made by schema `version` with its content, in a fresh directory.
class Upgrade {
 public:
  Upgrade(const std::string& name, int version) : dir_(FreshDir(name)) {
    Sql(path(), Fixture(version));
  }
  ~Upgrade() { std::filesystem::remove_all(dir_); }
  Upgrade(const Upgrade&) = delete;
  Upgrade& operator=(const Upgrade&) = delete;

  std::string path() const { return (dir_ / "metadata.db").string(); }

  // Opens it as keepd does; the first open upgrades it.
  Metadata& Open() {
    opened_at_ = UnixNow();
    auto md = OpenSqliteMetadata(path(), Canonical);
    if (!md) throw std::runtime_error(md.error().message);
    md_ = std::move(*md);
    return *md_;
  }
  void Close() { md_.reset(); }
  std::int64_t opened_at() const { return opened_at_; }

  // Signs in over HTTP Basic, as keepd checks a request's credentials.
  Result<Identity> SignIn(const std::string& user, const std::string& password) {
    auto issuer = TokenIssuer::Open((dir_ / "token.key").string(), "keep");
    if (!issuer) return issuer.error();
    Authenticator auth(*md_, std::chrono::seconds(0), *issuer, "keep");
    return auth.Authenticate("Basic " + EncodeBase64(user + ":" + password), "192.0.2.1");
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Metadata> md_;
  std::int64_t opened_at_ = 0;
};

bool MayPull(Metadata& md, const Identity& who, const std::string& repo) {
  return Authorize(md, who, Access{Action::kPull, repo}).has_value();
}
bool MayPush(Metadata& md, const Identity& who, const std::string& repo) {
  return Authorize(md, who, Access{Action::kPush, repo}).has_value();
}

std::string TaggedDigest(Metadata& md, const std::string& repo, const std::string& tag) {
  auto m = md.GetTagged(repo, tag);
  if (!m || !*m) return "";
  return (*m)->digest;
}

// What a sweep `days_later` days after the upgrade would collect.
std::vector<std::string> CollectedLater(Metadata& md, const std::string& repo,
                                        std::int64_t upgraded_at, std::int64_t days_later) {
  SweepPolicy policy;
  policy.now = upgraded_at + days_later * kDay;
  policy.cutoff = policy.now - kDay;  // the default grace for untagged manifests
  auto sweep = md.SweepRepository(repo, policy, /*dry_run=*/true);
  if (!sweep) return {"error: " + sweep.error().message};
  return sweep->manifests;
}

// Schema 1 had users and repositories, no namespaces and no roles: every
// signed-in user could pull and push everything.
TEST(SchemaUpgradeTest, FromSchemaOneKeepsUsersImagesAndUploads) {
  Upgrade db("v1", 1);
  Metadata& md = db.Open();

  // People sign in with the passwords they had.
  auto admin = db.SignIn("admin", "admin-before-upgrade");
  ASSERT_TRUE(admin) << admin.error().message;
  EXPECT_TRUE(admin->admin);
  auto alice = db.SignIn("alice", "alice-before-upgrade");
  ASSERT_TRUE(alice) << alice.error().message;
  EXPECT_FALSE(alice->admin);
  EXPECT_FALSE(db.SignIn("alice", "admin-before-upgrade"));
  auto record = md.GetUser("alice");
  ASSERT_TRUE(record && *record);
  EXPECT_FALSE((*record)->robot);
  EXPECT_EQ((*record)->created_at, 1700000100);

  // Tags resolve to the manifests they named; blobs stay linked.
  EXPECT_EQ(TaggedDigest(md, "acme/app", "v1"), kV1Image);
  EXPECT_EQ(TaggedDigest(md, "acme/app", "latest"), kV1Image);
  EXPECT_EQ(TaggedDigest(md, "library/base", "12"), kV1Base);
  auto tags = md.ListTags("acme/app", "", 100);
  ASSERT_TRUE(tags);
  EXPECT_EQ(*tags, (std::vector<std::string>{"latest", "v1"}));
  auto manifest = md.GetManifest("acme/app", kV1Image);
  ASSERT_TRUE(manifest && *manifest);
  EXPECT_EQ((*manifest)->media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ((*manifest)->annotations_json, R"({"org.opencontainers.image.version":"1.0"})");
  auto size = md.LinkedBlobSize("acme/app", kV1Layer);
  ASSERT_TRUE(size && *size);
  EXPECT_EQ(**size, 3623807);
  auto links = md.CountLinks(kV1Layer);
  ASSERT_TRUE(links);
  EXPECT_EQ(*links, 2);
  auto missing = md.MissingBlobs("acme/app", {kV1Layer});
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
  auto repos = md.ListRepos("", 100, std::nullopt);
  ASSERT_TRUE(repos);
  EXPECT_EQ(*repos, (std::vector<std::string>{"acme/app", "library/base"}));
  auto upload = md.GetUpload("0f1e2d3c4b5a69788796a5b4c3d2e1f0");
  ASSERT_TRUE(upload && *upload);
  EXPECT_EQ((*upload)->repo, "acme/app");

  // What the upgrade does to access: no namespace exists and nobody has a
  // role, so only admins may pull or push until an admin creates the
  // namespaces and their members (CHANGELOG.md says so).
  EXPECT_TRUE(MayPull(md, *admin, "acme/app"));
  EXPECT_TRUE(MayPush(md, *admin, "acme/app"));
  EXPECT_FALSE(MayPull(md, *alice, "acme/app"));
  auto namespaces = md.ListNamespaces(std::nullopt);
  ASSERT_TRUE(namespaces);
  EXPECT_TRUE(namespaces->empty());
  // No namespace means no quarantine TTL: GC keeps every tagged image.
  auto collected = CollectedLater(md, "acme/app", db.opened_at(), 30);
  EXPECT_EQ(std::count(collected.begin(), collected.end(), kV1Image), 0);

  // Schema 2's tables work, and the database opens again as it is.
  ASSERT_TRUE(md.CreateNamespace(NamespaceRecord{"acme", false, 0, "admin", 0, {}, 0}));
  ASSERT_TRUE(md.SetMember("acme", alice->id, "reader"));
  EXPECT_TRUE(MayPull(md, *alice, "acme/app"));
  db.Close();
  Metadata& again = db.Open();
  EXPECT_EQ(TaggedDigest(again, "acme/app", "v1"), kV1Image);
  EXPECT_EQ(again.ListNamespaces(std::nullopt)->size(), 1u);
}

// Schema 2 added namespaces, roles and robots, without any trust policy:
// whoever could pull a repository was served everything in it.
TEST(SchemaUpgradeTest, FromSchemaTwoKeepsAccountsRolesAndImages) {
  Upgrade db("v2", 2);
  Metadata& md = db.Open();

  auto alice = db.SignIn("alice", "alice-before-upgrade");
  ASSERT_TRUE(alice) << alice.error().message;
  auto bob = db.SignIn("bob", "bob-before-upgrade");
  ASSERT_TRUE(bob) << bob.error().message;
  auto robot = db.SignIn("robot+ci", "robot-before-upgrade");
  ASSERT_TRUE(robot) << robot.error().message;
  EXPECT_TRUE(robot->robot);
  EXPECT_FALSE(db.SignIn("bob", "alice-before-upgrade"));

  // Roles and robot scopes hold as they were.
  EXPECT_TRUE(MayPull(md, *alice, "acme/app"));
  EXPECT_FALSE(MayPush(md, *alice, "acme/app"));
  EXPECT_TRUE(MayPush(md, *bob, "acme/app"));
  EXPECT_TRUE(MayPush(md, *robot, "acme/app"));
  EXPECT_FALSE(MayPush(md, *robot, "pub/tool"));     // outside its scope
  EXPECT_TRUE(MayPull(md, Identity{}, "pub/tool"));  // anonymous pull
  EXPECT_FALSE(MayPull(md, Identity{}, "acme/app"));
  auto robots = md.ListRobots();
  ASSERT_TRUE(robots);
  ASSERT_EQ(robots->size(), 1u);
  ASSERT_EQ(robots->front().scopes.size(), 1u);
  EXPECT_EQ(robots->front().scopes.front().ns, "acme");
  auto members = md.ListMembers("acme");
  ASSERT_TRUE(members);
  EXPECT_EQ(members->size(), 2u);

  // Tags resolve; the index keeps its child; blobs stay linked.
  EXPECT_EQ(TaggedDigest(md, "acme/app", "v2"), kV2Image);
  EXPECT_EQ(TaggedDigest(md, "acme/app", "multi"), kV2Index);
  EXPECT_EQ(TaggedDigest(md, "pub/tool", "stable"), kV2Tool);
  auto refs = md.ManifestRefs("acme/app");
  ASSERT_TRUE(refs);
  EXPECT_TRUE(std::any_of(refs->begin(), refs->end(), [](const ManifestRef& r) {
    return r.manifest == kV2Index && r.target == kV2Image && r.kind == ManifestRef::Kind::kChild &&
           r.present;
  }));
  auto size = md.LinkedBlobSize("pub/tool", kV2Layer);
  ASSERT_TRUE(size && *size);
  EXPECT_EQ(**size, 3623807);

  // The trust policy the upgrade gives the namespaces schema 2 had: "open",
  // so they keep serving what they served. Quarantine here would hide every
  // image from every reader at once and have GC delete them one TTL later:
  // an upgrade must not do that to an organisation's registry.
  for (const char* name : {"acme", "pub"}) {
    auto ns = md.GetNamespace(name);
    ASSERT_TRUE(ns && *ns) << name;
    EXPECT_EQ((*ns)->policy.mode, "open") << name;
    EXPECT_EQ((*ns)->policy.threshold, 1) << name;
    EXPECT_EQ((*ns)->policy.quarantine_ttl, kDay) << name;
    EXPECT_GE((*ns)->policy_since, db.opened_at()) << name;
    auto standing = md.AccessIn(name, alice->id);
    ASSERT_TRUE(standing);
    EXPECT_EQ(standing->policy.mode, "open") << name;
  }
  // So GC keeps their images however long after the upgrade it runs.
  EXPECT_TRUE(CollectedLater(md, "acme/app", db.opened_at(), 30).empty());
  EXPECT_TRUE(CollectedLater(md, "pub/tool", db.opened_at(), 30).empty());
  // Nothing is signed, so a maintainer who turns signing on sees it all
  // quarantined, with a whole TTL from that moment before GC may act.
  auto quarantined = md.Quarantined("acme/app", 1);
  ASSERT_TRUE(quarantined);
  EXPECT_EQ(quarantined->size(), 2u);
  ASSERT_TRUE(*md.SetPolicy("acme", TrustPolicy{"quarantine", 1, kDay}));
  auto strict_since = UnixNow();
  EXPECT_TRUE(CollectedLater(md, "acme/app", strict_since, 0).empty());
  EXPECT_EQ(CollectedLater(md, "acme/app", strict_since, 2).size(), 2u);

  // A namespace schema 2 never created keeps having none: the default
  // policy applies to it, and GC leaves it alone.
  auto scratch = md.AccessIn("scratch", alice->id);
  ASSERT_TRUE(scratch);
  EXPECT_FALSE(scratch->exists);
  EXPECT_EQ(scratch->policy.mode, "quarantine");
  EXPECT_TRUE(CollectedLater(md, "scratch/x", db.opened_at(), 30).empty());
  // A namespace created after the upgrade gets the default policy.
  ASSERT_TRUE(md.CreateNamespace(NamespaceRecord{"fresh", false, 0, "admin", 0, {}, 0}));
  EXPECT_EQ((*md.GetNamespace("fresh"))->policy.mode, "quarantine");

  // Upgraded once: opening again changes nothing.
  ASSERT_TRUE(*md.SetPolicy("pub", TrustPolicy{"strict", 1, kDay}));
  db.Close();
  Metadata& again = db.Open();
  EXPECT_EQ((*again.GetNamespace("pub"))->policy.mode, "strict");
  EXPECT_EQ((*again.GetNamespace("acme"))->policy.mode, "quarantine");
}

// Schema 3 added trust policies, publisher keys and signatures. Its key ids
// hashed the encoding a key was sent in; a deleted signature manifest could
// leave its records behind.
TEST(SchemaUpgradeTest, FromSchemaThreeKeepsTrustAndRenamesKeys) {
  Upgrade db("v3", 3);
  const std::string canonical_ecdsa = trust_test::Trimmed(trust_test::Data("ecdsa.keyid"));
  Metadata& md = db.Open();

  auto alice = db.SignIn("alice", "alice-before-upgrade");
  ASSERT_TRUE(alice) << alice.error().message;
  EXPECT_TRUE(MayPull(md, *alice, "acme/app"));
  EXPECT_FALSE(MayPush(md, *alice, "acme/app"));

  // Policies are kept as they were chosen; the quarantine clock restarts.
  struct Want {
    const char* ns;
    const char* mode;
    std::int64_t threshold;
    std::int64_t ttl;
  };
  for (const Want& w : {Want{"acme", "quarantine", 1, kDay}, Want{"beta", "strict", 2, 7 * kDay},
                        Want{"scratch", "open", 1, kDay}}) {
    auto ns = md.GetNamespace(w.ns);
    ASSERT_TRUE(ns && *ns) << w.ns;
    EXPECT_EQ((*ns)->policy.mode, w.mode) << w.ns;
    EXPECT_EQ((*ns)->policy.threshold, w.threshold) << w.ns;
    EXPECT_EQ((*ns)->policy.quarantine_ttl, w.ttl) << w.ns;
    EXPECT_GE((*ns)->policy_since, db.opened_at()) << w.ns;
  }

  // Keys get canonical ids and PEMs; OpenPGP keys keep their fingerprint.
  const std::string canonical_pem = trust_test::Data("ecdsa.pub");
  auto ci = md.GetKey("acme", canonical_ecdsa);
  ASSERT_TRUE(ci && *ci);
  EXPECT_EQ((*ci)->name, "ci");
  EXPECT_EQ((*ci)->pem, canonical_pem);
  EXPECT_FALSE((*ci)->revoked);
  EXPECT_FALSE(*md.GetKey("acme", kV3CompressedId));
  auto one = md.GetKey("beta", canonical_ecdsa);
  ASSERT_TRUE(one && *one);
  EXPECT_EQ((*one)->name, "one");
  EXPECT_EQ((*one)->pem, canonical_pem);
  EXPECT_FALSE(*md.GetKey("beta", kV3ExplicitId));
  auto ed = md.GetKey("beta", kEd25519Id);
  ASSERT_TRUE(ed && *ed);
  EXPECT_EQ((*ed)->pem, trust_test::Data("ed25519.pub"));
  auto gpg = md.GetKey("acme", kGpgFingerprint);
  ASSERT_TRUE(gpg && *gpg);
  EXPECT_EQ((*gpg)->algorithm, "openpgp-ed25519");
  EXPECT_EQ(md.ListKeys("acme")->size(), 3u);
  EXPECT_EQ(md.ListKeys("beta")->size(), 2u);

  // Signatures follow their keys, so what was trusted stays trusted.
  auto sigs = md.SignaturesOf("acme/app", kV3Signed);
  ASSERT_TRUE(sigs);
  ASSERT_EQ(sigs->size(), 1u);
  EXPECT_EQ(sigs->front().key_id, canonical_ecdsa);
  EXPECT_EQ(sigs->front().signature, kV3Signature);
  EXPECT_TRUE(*md.IsTrusted("acme/app", kV3Signed, 1));
  EXPECT_TRUE(*md.IsTrusted("acme/app", kV3Signature, 1));  // its signature artifact
  EXPECT_TRUE(*md.IsServableBlob("acme/app", kV3Layer, 1));
  EXPECT_TRUE(*md.IsTrusted("acme/app", kV3Gpg, 1));  // signed through the extension API
  auto stored = md.StoredSignatures("acme/app", kV3Gpg);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->front().name, std::string(kV3Gpg) + "@0123456789abcdef0123456789abcdef");
  // Two keys, two signers: beta's threshold of 2 is still met.
  auto beta_sigs = md.SignaturesOf("beta/app", kV3Strict);
  ASSERT_TRUE(beta_sigs);
  EXPECT_EQ(beta_sigs->size(), 2u);
  EXPECT_TRUE(*md.IsTrusted("beta/app", kV3Strict, 2));
  EXPECT_EQ(TaggedDigest(md, "beta/app", "release"), kV3Strict);

  // The record a deleted signature manifest left is gone, so the image it
  // vouched for is quarantined, as it was meant to be once its signature
  // went.
  EXPECT_TRUE(md.SignaturesOf("acme/app", kV3Unsigned)->empty());
  EXPECT_FALSE(*md.IsTrusted("acme/app", kV3Unsigned, 1));
  auto trusted_tags = md.TrustedTags("acme/app", 1);
  ASSERT_TRUE(trusted_tags);
  EXPECT_EQ(*trusted_tags,
            (std::vector<std::string>{"gpg", "sha256-" + std::string(kV3Signed).substr(7) + ".sig",
                                      "v3"}));
  auto quarantined = md.Quarantined("acme/app", 1);
  ASSERT_TRUE(quarantined);
  ASSERT_EQ(quarantined->size(), 1u);
  EXPECT_EQ(quarantined->front().digest, kV3Unsigned);
  EXPECT_EQ(TaggedDigest(md, "acme/app", "unsigned"), kV3Unsigned);

  // GC: nothing goes at the next run; one TTL after the upgrade the
  // quarantined image goes and the signed ones stay. Open scratch keeps all.
  EXPECT_TRUE(CollectedLater(md, "acme/app", db.opened_at(), 0).empty());
  EXPECT_EQ(CollectedLater(md, "acme/app", db.opened_at(), 2),
            std::vector<std::string>{kV3Unsigned});
  EXPECT_TRUE(CollectedLater(md, "beta/app", db.opened_at(), 30).empty());
  EXPECT_TRUE(CollectedLater(md, "scratch/tmp", db.opened_at(), 30).empty());
  EXPECT_EQ(TaggedDigest(md, "scratch/tmp", "dev"), kV3Open);

  // Upgraded once: opening again (without a canonicaliser) changes nothing.
  db.Close();
  auto again = OpenSqliteMetadata(db.path());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(*(*again)->IsTrusted("acme/app", kV3Signed, 1));
  EXPECT_EQ((*again)->ListKeys("acme")->size(), 3u);
}

}  // namespace
}  // namespace keep
