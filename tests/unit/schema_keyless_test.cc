// Schema 6: a namespace's keyless identities and the installed trust roots.
// A database of schema 5 gains their tables; an identity counts once toward
// the threshold, like a key, under IdentitySignerId(name), only in its own
// namespace and only while it is not revoked; revoking it restarts the
// namespace's quarantine clock, and its name cannot come back.
// Schema 7: a keyless signature's record names the trust root that vouched
// for it, and counts only while a root of that content is installed; a
// schema 6 database's keyless records count for nothing until verified again.
#include "core/clock.h"
#include "core/digest.h"
#include "storage/metadata.h"

#include "schema_test_support.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace keep {
namespace {

// The schema keepd writes now (storage/sqlite_metadata.cc): an upgrade goes
// all the way to it.
constexpr int kCurrentSchema = 9;

using schema_test::FreshDir;
using schema_test::Sql;

int UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr), SQLITE_OK);
  int version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return version;
}

TrustedIdentityRecord Release(const std::string& ns, const std::string& name = "release") {
  TrustedIdentityRecord r;
  r.ns = ns;
  r.name = name;
  r.issuer = "https://token.actions.githubusercontent.com";
  r.subject = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
  r.extensions_json = R"({"source-repository-ref":"refs/tags/v1"})";
  r.added_by = "admin";
  return r;
}

class KeylessTablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = (dir_ / "metadata.db").string();
    auto md = OpenSqliteMetadata(path_);
    ASSERT_TRUE(md) << md.error().message;
    md_ = std::move(*md);
    ASSERT_TRUE(md_->CreateNamespace(NamespaceRecord{"acme", false, 0, "admin", 0, {}, 0}));
    ASSERT_TRUE(md_->CreateNamespace(NamespaceRecord{"other", false, 0, "admin", 0, {}, 0}));
    ASSERT_TRUE(md_->PutManifest(ManifestWrite{Record(image_), {}, {}, {"v1"}, {}}));
  }
  void TearDown() override {
    md_.reset();
    std::filesystem::remove_all(dir_);
  }

  ManifestRecord Record(const std::string& digest) {
    return ManifestRecord{"acme/app", digest, "application/vnd.oci.image.manifest.v1+json", 10, "",
                          "",         "{}"};
  }

  // A signature artifact recording `signer` as having signed the image,
  // vouched for by the trust root of digest `root` (none: a key's).
  void Sign(const std::string& label, const std::string& signer, const std::string& root = "") {
    const std::string artifact = Sha256Of(label).str();
    SignatureRecord sig{"acme/app", image_, signer, kFormatSigstoreBundle, artifact, 0, root, true};
    ManifestRecord r = Record(artifact);
    r.subject = image_;
    ASSERT_TRUE(md_->PutManifest(ManifestWrite{r, {}, {}, {}, {sig}}));
  }

  bool Trusted(std::int64_t threshold) {
    auto trusted = md_->IsTrusted("acme/app", image_, threshold);
    EXPECT_TRUE(trusted) << trusted.error().message;
    return trusted && *trusted;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Metadata> md_;
  const std::string image_ = Sha256Of("image").str();
};

TEST(SchemaKeylessTest, ASchemaFiveDatabaseGainsIdentitiesAndTrustRoots) {
  auto dir = FreshDir("schema-five");
  const std::string path = (dir / "metadata.db").string();
  {
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md) << md.error().message;
    ASSERT_TRUE((*md)->CreateNamespace(NamespaceRecord{"acme", false, 0, "admin", 0, {}, 0}));
  }
  EXPECT_EQ(UserVersion(path), kCurrentSchema);
  // As schema 5 left it: no keyless tables.
  Sql(path, "DROP TABLE trusted_identities; DROP TABLE trust_roots; PRAGMA user_version=5");
  {
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md) << md.error().message;
    auto ids = (*md)->ListIdentities("acme");
    ASSERT_TRUE(ids) << ids.error().message;
    EXPECT_TRUE(ids->empty());
    ASSERT_TRUE((*md)->AddIdentity(Release("acme")));
    ASSERT_TRUE((*md)->SetTrustRoot(TrustRootRecord{"public-good", "{}", "admin", 0, ""}));
    auto roots = (*md)->ListTrustRoots();
    ASSERT_TRUE(roots && roots->size() == 1u);
    EXPECT_EQ((*roots)[0].digest, Sha256Of("{}").str());
  }
  EXPECT_EQ(UserVersion(path), kCurrentSchema);
  std::filesystem::remove_all(dir);
}

TEST_F(KeylessTablesTest, AnIdentityIsStoredAsGiven) {
  ASSERT_TRUE(md_->AddIdentity(Release("acme")));
  auto got = md_->GetIdentity("acme", "release");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->issuer, "https://token.actions.githubusercontent.com");
  EXPECT_EQ((*got)->subject_regex, "");
  EXPECT_EQ((*got)->extensions_json, R"({"source-repository-ref":"refs/tags/v1"})");
  EXPECT_EQ((*got)->added_by, "admin");
  EXPECT_GT((*got)->added_at, 0);
  EXPECT_FALSE((*got)->revoked);
  auto none = md_->GetIdentity("other", "release");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto again = md_->AddIdentity(Release("acme"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

TEST_F(KeylessTablesTest, AnIdentityCountsOnceAndOnlyInItsNamespace) {
  Sign("bundle one", IdentitySignerId("release"));
  EXPECT_FALSE(Trusted(1)) << "no such identity yet";
  ASSERT_TRUE(md_->AddIdentity(Release("other")));
  EXPECT_FALSE(Trusted(1)) << "another namespace's identity of that name";
  ASSERT_TRUE(md_->AddIdentity(Release("acme")));
  EXPECT_TRUE(Trusted(1));
  Sign("bundle two", IdentitySignerId("release"));
  EXPECT_FALSE(Trusted(2)) << "one identity is one signer";
  ASSERT_TRUE(md_->AddIdentity(Release("acme", "second")));
  Sign("bundle three", IdentitySignerId("second"));
  EXPECT_TRUE(Trusted(2));
  // A key id of the same text is no identity: 'identity:' names only identities.
  Sign("bundle four", "release");
  EXPECT_FALSE(Trusted(3));
}

TEST_F(KeylessTablesTest, AKeyAndAnIdentityAreTwoSigners) {
  const std::string key_id(64, 'a');
  PublisherKeyRecord key{"acme", key_id, "ci", "ed25519", "pem", "admin", 0, false};
  ASSERT_TRUE(
      md_->AddKey(key, [](const PublisherKeyRecord&) { return std::vector<std::string>(); }));
  ASSERT_TRUE(md_->AddIdentity(Release("acme")));
  Sign("by the key", key_id);
  EXPECT_FALSE(Trusted(2));
  Sign("by the identity", IdentitySignerId("release"));
  EXPECT_TRUE(Trusted(2));
  ASSERT_TRUE(md_->RevokeIdentity("acme", "release"));
  EXPECT_FALSE(Trusted(2));
  EXPECT_TRUE(Trusted(1)) << "the key's signature still counts";
}

TEST_F(KeylessTablesTest, RevokingAnIdentityQuarantinesWhatOnlyItSigned) {
  ASSERT_TRUE(md_->AddIdentity(Release("acme")));
  Sign("bundle", IdentitySignerId("release"));
  ASSERT_TRUE(Trusted(1));
  const std::int64_t before = UnixNow();
  auto revoked = md_->RevokeIdentity("acme", "release");
  ASSERT_TRUE(revoked && *revoked);
  EXPECT_FALSE(Trusted(1));
  auto ns = md_->GetNamespace("acme");
  ASSERT_TRUE(ns && *ns);
  EXPECT_GE((*ns)->policy_since, before);
  auto got = md_->GetIdentity("acme", "release");
  ASSERT_TRUE(got && *got);
  EXPECT_TRUE((*got)->revoked);
  // Its name cannot come back (its signatures would count again).
  auto again = md_->AddIdentity(Release("acme"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("revoked"), std::string::npos) << again.error().message;
  auto missing = md_->RevokeIdentity("acme", "nobody");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_F(KeylessTablesTest, TrustRootsAreSetReplacedAndDeletedByName) {
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"public-good", "first", "admin", 0, ""}));
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"private", "mine", "admin", 0, ""}));
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"public-good", "second", "root", 0, ""}));
  auto roots = md_->ListTrustRoots();
  ASSERT_TRUE(roots);
  ASSERT_EQ(roots->size(), 2u);
  EXPECT_EQ((*roots)[0].name, "private");
  EXPECT_EQ((*roots)[1].name, "public-good");
  EXPECT_EQ((*roots)[1].content, "second");
  EXPECT_EQ((*roots)[1].added_by, "root");
  auto removed = md_->DeleteTrustRoot("private");
  ASSERT_TRUE(removed && *removed);
  removed = md_->DeleteTrustRoot("private");
  ASSERT_TRUE(removed);
  EXPECT_FALSE(*removed);
}

TEST_F(KeylessTablesTest, AKeylessSignatureCountsWhileItsTrustRootIsInstalled) {
  ASSERT_TRUE(md_->AddIdentity(Release("acme")));
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"public-good", "first", "admin", 0, ""}));
  Sign("bundle", IdentitySignerId("release"), Sha256Of("first").str());
  EXPECT_TRUE(Trusted(1));
  auto unvouched = md_->UnvouchedSignatures("", "", 10);
  ASSERT_TRUE(unvouched);
  EXPECT_TRUE(unvouched->empty());

  // Replaced by other content: the record no longer counts, and is listed.
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"public-good", "second", "admin", 0, ""}));
  EXPECT_FALSE(Trusted(1));
  auto sigs = md_->SignaturesOf("acme/app", image_);
  ASSERT_TRUE(sigs && sigs->size() == 1u);
  EXPECT_FALSE((*sigs)[0].vouched);
  EXPECT_EQ((*sigs)[0].trust_root, Sha256Of("first").str());
  unvouched = md_->UnvouchedSignatures("", "", 10);
  ASSERT_TRUE(unvouched);
  ASSERT_EQ(unvouched->size(), 1u);
  EXPECT_EQ((*unvouched)[0].repo, "acme/app");
  EXPECT_EQ((*unvouched)[0].target, image_);
  EXPECT_EQ((*unvouched)[0].signature, Sha256Of("bundle").str());
  // Paged after it: nothing more.
  unvouched = md_->UnvouchedSignatures("acme/app", Sha256Of("bundle").str(), 10);
  ASSERT_TRUE(unvouched);
  EXPECT_TRUE(unvouched->empty());

  // The same content under another name vouches again.
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"again", "first", "admin", 0, ""}));
  EXPECT_TRUE(Trusted(1));
  ASSERT_TRUE(md_->DeleteTrustRoot("again"));
  EXPECT_FALSE(Trusted(1));

  // Verified again under the root installed now: its records are replaced.
  SignatureRecord again{"acme/app",
                        image_,
                        IdentitySignerId("release"),
                        kFormatSigstoreBundle,
                        Sha256Of("bundle").str(),
                        0,
                        Sha256Of("second").str(),
                        true};
  ASSERT_TRUE(md_->ReplaceSignatureRecords("acme/app", Sha256Of("bundle").str(), {again}));
  EXPECT_TRUE(Trusted(1));
  sigs = md_->SignaturesOf("acme/app", image_);
  ASSERT_TRUE(sigs && sigs->size() == 1u);
  EXPECT_TRUE((*sigs)[0].vouched);

  // Removing the root withdraws it again.
  ASSERT_TRUE(md_->DeleteTrustRoot("public-good"));
  EXPECT_FALSE(Trusted(1));

  // An artifact deleted while it was being verified again gets no records
  // back: they would vouch for the image with nothing behind them.
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"public-good", "second", "admin", 0, ""}));
  EXPECT_TRUE(Trusted(1));
  auto deleted = md_->DeleteManifest("acme/app", Sha256Of("bundle").str());
  ASSERT_TRUE(deleted && *deleted);
  EXPECT_FALSE(Trusted(1));
  ASSERT_TRUE(md_->ReplaceSignatureRecords("acme/app", Sha256Of("bundle").str(), {again}));
  EXPECT_FALSE(Trusted(1));
  sigs = md_->SignaturesOf("acme/app", image_);
  ASSERT_TRUE(sigs);
  EXPECT_TRUE(sigs->empty());
}

TEST(SchemaKeylessTest, ASchemaSixDatabasesKeylessRecordsCountOnlyOnceVerifiedAgain) {
  auto dir = FreshDir("schema-six");
  const std::string path = (dir / "metadata.db").string();
  const std::string image = Sha256Of("image").str();
  {
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md) << md.error().message;
    ASSERT_TRUE((*md)->CreateNamespace(NamespaceRecord{"acme", false, 0, "admin", 0, {}, 0}));
    ASSERT_TRUE((*md)->AddIdentity(Release("acme")));
    ASSERT_TRUE((*md)->SetTrustRoot(TrustRootRecord{"public-good", "content", "admin", 0, ""}));
    ManifestRecord r{"acme/app", image, "application/vnd.oci.image.manifest.v1+json", 10, "",
                     "",         "{}"};
    ASSERT_TRUE((*md)->PutManifest(ManifestWrite{r, {}, {}, {"v1"}, {}}));
    SignatureRecord sig{"acme/app",
                        image,
                        IdentitySignerId("release"),
                        kFormatSigstoreBundle,
                        Sha256Of("bundle").str(),
                        0,
                        "",
                        true};
    ManifestRecord b = r;
    b.digest = Sha256Of("bundle").str();
    b.subject = image;
    ASSERT_TRUE((*md)->PutManifest(ManifestWrite{b, {}, {}, {}, {sig}}));
  }
  // As schema 6 left it: no trust root in the records, no digest of the roots.
  Sql(path,
      "CREATE TABLE s6 AS SELECT repo_id, target, key_id, format, signature, verified_at FROM "
      "signatures; DROP TABLE signatures; CREATE TABLE signatures(repo_id INTEGER NOT NULL "
      "REFERENCES repositories(id) ON DELETE CASCADE, target TEXT NOT NULL, key_id TEXT NOT "
      "NULL, format TEXT NOT NULL, signature TEXT NOT NULL, verified_at INTEGER NOT NULL, "
      "PRIMARY KEY(repo_id, target, key_id, signature)) WITHOUT ROWID; INSERT INTO signatures "
      "SELECT * FROM s6; DROP TABLE s6; ALTER TABLE trust_roots DROP COLUMN digest; "
      "PRAGMA user_version=6");
  auto md = OpenSqliteMetadata(path);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(UserVersion(path), kCurrentSchema);
  auto roots = (*md)->ListTrustRoots();
  ASSERT_TRUE(roots && roots->size() == 1u);
  EXPECT_EQ((*roots)[0].digest, Sha256Of("content").str());
  auto trusted = (*md)->IsTrusted("acme/app", image, 1);
  ASSERT_TRUE(trusted);
  EXPECT_FALSE(*trusted);
  auto unvouched = (*md)->UnvouchedSignatures("", "", 10);
  ASSERT_TRUE(unvouched);
  ASSERT_EQ(unvouched->size(), 1u);
  EXPECT_EQ((*unvouched)[0].signature, Sha256Of("bundle").str());
  md->reset();
  std::filesystem::remove_all(dir);
}

TEST_F(KeylessTablesTest, DeletingANamespaceDeletesItsIdentities) {
  ASSERT_TRUE(md_->AddIdentity(Release("other")));
  auto deleted = md_->DeleteNamespace("other");
  ASSERT_TRUE(deleted && *deleted);
  auto ids = md_->ListIdentities("other");
  ASSERT_TRUE(ids);
  EXPECT_TRUE(ids->empty());
}

}  // namespace
}  // namespace keep
