// Schema 6: a namespace's keyless identities and the installed trust roots.
// A database of schema 5 gains their tables; an identity counts once toward
// the threshold, like a key, under IdentitySignerId(name), only in its own
// namespace and only while it is not revoked; revoking it restarts the
// namespace's quarantine clock, and its name cannot come back.
#include "core/clock.h"
#include "core/digest.h"
#include "storage/metadata.h"

#include "schema_test_support.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace keep {
namespace {

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

  // A signature artifact recording `signer` as having signed the image.
  void Sign(const std::string& label, const std::string& signer) {
    const std::string artifact = Sha256Of(label).str();
    SignatureRecord sig{"acme/app", image_, signer, kFormatSigstoreBundle, artifact, 0};
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
  EXPECT_EQ(UserVersion(path), 6);
  // As schema 5 left it: no keyless tables.
  Sql(path, "DROP TABLE trusted_identities; DROP TABLE trust_roots; PRAGMA user_version=5");
  {
    auto md = OpenSqliteMetadata(path);
    ASSERT_TRUE(md) << md.error().message;
    auto ids = (*md)->ListIdentities("acme");
    ASSERT_TRUE(ids) << ids.error().message;
    EXPECT_TRUE(ids->empty());
    ASSERT_TRUE((*md)->AddIdentity(Release("acme")));
    ASSERT_TRUE((*md)->SetTrustRoot(TrustRootRecord{"public-good", "{}", "admin", 0}));
    auto roots = (*md)->ListTrustRoots();
    ASSERT_TRUE(roots && roots->size() == 1u);
  }
  EXPECT_EQ(UserVersion(path), 6);
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
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"public-good", "first", "admin", 0}));
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"private", "mine", "admin", 0}));
  ASSERT_TRUE(md_->SetTrustRoot(TrustRootRecord{"public-good", "second", "root", 0}));
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
