// Garbage collection and the integrity check through the admin API
// (POST /admin/v1/gc, POST /admin/v1/fsck): what goes, what stays, dry runs,
// corrupt and missing blob files, and who may call them.
#include "tests/support/keepd_test.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const Headers kJson = {{"Content-Type", "application/json"}};

std::vector<std::string> Items(const json& report, const char* key) {
  return report.at(key).at("items").get<std::vector<std::string>>();
}

bool Lists(const json& report, const char* key, const std::string& item) {
  auto items = Items(report, key);
  return std::find(items.begin(), items.end(), item) != items.end();
}

// Whether some item of the list starts with `prefix`.
bool ListsPrefix(const json& report, const char* key, const std::string& prefix) {
  for (const auto& item : Items(report, key)) {
    if (item.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::string ConfigDigest(const Manifest& m) {
  return json::parse(m.bytes)["config"]["digest"].get<std::string>();
}

// Content is young within the second it was pushed even with grace 0 (times
// are whole seconds): wait for the next one.
void LetASecondPass() { std::this_thread::sleep_for(std::chrono::milliseconds(1100)); }

class GcTest : public KeepdTest {
 protected:
  json Gc(bool dry_run, std::optional<int> grace_seconds = 0) {
    json body = {{"dry_run", dry_run}};
    if (grace_seconds) body["grace_seconds"] = *grace_seconds;
    Response r = client_.Post("/admin/v1/gc", body.dump(), kJson);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.Json() : json{{"manifests", {{"count", 0}, {"items", json::array()}}}};
  }
  json Fsck(bool repair) {
    Response r = client_.Post("/admin/v1/fsck", json{{"repair", repair}}.dump(), kJson);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json();
  }
  fs::path BlobFile(const std::string& digest) const {
    std::string hex = digest.substr(digest.find(':') + 1);
    return keepd_.data_dir() / "blobs" / "sha256" / hex.substr(0, 2) / hex;
  }
  void ExpectPulls(const std::string& repo, const std::string& reference, const Manifest& m) {
    SCOPED_TRACE(repo + ":" + reference);
    Response r = client_.Get(ManifestPath(repo, reference), {{"Accept", m.media_type}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(r.body == m.bytes);
    json j = json::parse(m.bytes);
    std::vector<json> blobs = {j.value("config", json::object())};
    for (const auto& l : j.value("layers", json::array())) blobs.push_back(l);
    for (const auto& b : blobs) {
      if (!b.contains("digest")) continue;
      Response blob = client_.Get(BlobPath(repo, b["digest"].get<std::string>()));
      EXPECT_EQ(blob.status, 200) << b["digest"];
      EXPECT_EQ(DigestOf(blob.body), b["digest"].get<std::string>());
    }
  }

  const std::string repo_ = "acme/app";
};

TEST_F(GcTest, DeletesAnUntaggedImageAndKeepsTheTaggedOne) {
  Manifest kept = PushImage(client_, repo_, "v1", {.layer = "kept layer"});
  Manifest gone = PushImage(client_, repo_, "v2", {.layer = "gone layer"});
  ASSERT_EQ(client_.Delete(ManifestPath(repo_, "v2")).status, 202);
  const std::string layer = DigestOf("gone layer");
  ASSERT_TRUE(fs::exists(BlobFile(layer)));
  LetASecondPass();

  json report = Gc(false);
  EXPECT_FALSE(report["dry_run"].get<bool>());
  EXPECT_EQ(Items(report, "manifests"), std::vector<std::string>{repo_ + "@" + gone.digest()});
  for (const std::string& d : {layer, ConfigDigest(gone), gone.digest()}) {
    EXPECT_TRUE(Lists(report, "blob_links", repo_ + "@" + d)) << d;
    EXPECT_TRUE(Lists(report, "blob_files", d)) << d;
  }
  EXPECT_EQ(report["blob_files"]["count"], 3);
  EXPECT_GT(report["bytes_freed"].get<std::int64_t>(), 0);

  EXPECT_FALSE(fs::exists(BlobFile(layer)));
  EXPECT_TRUE(IsError(client_.Get(ManifestPath(repo_, gone.digest())), 404, "MANIFEST_UNKNOWN"));
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, layer)), 404, "BLOB_UNKNOWN"));
  ExpectPulls(repo_, "v1", kept);
  ExpectPulls(repo_, kept.digest(), kept);

  // Nothing is left to collect.
  json again = Gc(false);
  EXPECT_EQ(again["manifests"]["count"], 0);
  EXPECT_EQ(again["blob_files"]["count"], 0);
}

TEST_F(GcTest, KeepsUntaggedContentWithinTheGracePeriod) {
  Manifest m = PushImage(client_, repo_, "v1", {.layer = "young"});
  ASSERT_EQ(client_.Delete(ManifestPath(repo_, "v1")).status, 202);
  std::string loose = PushBlob(client_, repo_, "uploaded, not referenced yet");
  LetASecondPass();

  json report = Gc(false, 3600);
  EXPECT_EQ(report["manifests"]["count"], 0);
  EXPECT_EQ(report["blob_links"]["count"], 0);
  EXPECT_EQ(report["blob_files"]["count"], 0);
  ExpectPulls(repo_, m.digest(), m);
  EXPECT_EQ(client_.Get(BlobPath(repo_, loose)).status, 200);

  // The configured grace (24 h by default) applies when the body names none.
  EXPECT_EQ(Gc(false, std::nullopt)["manifests"]["count"], 0);
  // Past the grace, an uploaded blob that no manifest references goes too.
  json late = Gc(false, 0);
  EXPECT_TRUE(Lists(late, "manifests", repo_ + "@" + m.digest()));
  EXPECT_TRUE(Lists(late, "blob_files", loose));
}

TEST_F(GcTest, KeepsBlobsSharedWithATaggedImageInAnotherRepository) {
  const std::string other = "acme/other";
  Manifest tagged = PushImage(client_, other, "v1", {.layer = "shared layer"});
  Manifest untagged = PushImage(client_, repo_, "v1", {.layer = "shared layer"});
  ASSERT_EQ(client_.Delete(ManifestPath(repo_, "v1")).status, 202);
  const std::string shared = DigestOf("shared layer");
  LetASecondPass();

  json report = Gc(false);
  EXPECT_TRUE(Lists(report, "manifests", repo_ + "@" + untagged.digest()));
  EXPECT_TRUE(Lists(report, "blob_links", repo_ + "@" + shared));
  EXPECT_FALSE(Lists(report, "blob_files", shared)) << "another repository still links it";
  EXPECT_TRUE(fs::exists(BlobFile(shared)));
  ExpectPulls(other, "v1", tagged);
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, shared)), 404, "BLOB_UNKNOWN"));
}

TEST_F(GcTest, KeepsReferrersAndChildrenOfTaggedManifests) {
  Manifest subject = PushImage(client_, repo_, "v1", {.layer = "subject"});
  Manifest referrer = PrepareImage(client_, repo_,
                                   {.layer = "signature", .artifact_type = "application/example",
                                    .subject = subject});
  PushManifest(client_, repo_, referrer.digest(), referrer);
  // A referrer of something untagged goes with it.
  Manifest orphan = PushImage(client_, repo_, "old", {.layer = "orphan subject"});
  ASSERT_EQ(client_.Delete(ManifestPath(repo_, "old")).status, 202);
  Manifest orphan_referrer = PrepareImage(
      client_, repo_,
      {.layer = "orphan signature", .artifact_type = "application/example", .subject = orphan});
  PushManifest(client_, repo_, orphan_referrer.digest(), orphan_referrer);
  // An index by tag, its children by digest only.
  Manifest amd64 = PrepareImage(client_, repo_, {.layer = "amd64"});
  Manifest arm64 = PrepareImage(client_, repo_, {.layer = "arm64"});
  PushManifest(client_, repo_, amd64.digest(), amd64);
  PushManifest(client_, repo_, arm64.digest(), arm64);
  Manifest index = PushManifest(client_, repo_, "multi", IndexOf({amd64, arm64}));
  LetASecondPass();

  json report = Gc(false);
  std::vector<std::string> expected = {repo_ + "@" + orphan.digest(),
                                       repo_ + "@" + orphan_referrer.digest()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Items(report, "manifests"), expected);
  ExpectPulls(repo_, referrer.digest(), referrer);
  ExpectPulls(repo_, amd64.digest(), amd64);
  ExpectPulls(repo_, arm64.digest(), arm64);
  ExpectPulls(repo_, "multi", index);
  Response referrers = client_.Get(ReferrersPath(repo_, subject.digest()));
  ASSERT_EQ(referrers.status, 200);
  EXPECT_EQ(referrers.Json()["manifests"].size(), 1u);
}

TEST_F(GcTest, UntaggedManifestsStayWhenTheirCollectionIsOff) {
  Manifest m = PushImage(client_, repo_, "v1", {.layer = "kept untagged"});
  ASSERT_EQ(client_.Delete(ManifestPath(repo_, "v1")).status, 202);
  LetASecondPass();
  Response r = client_.Post("/admin/v1/gc",
                            json{{"grace_seconds", 0}, {"delete_untagged", false}}.dump(), kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["manifests"]["count"], 0);
  EXPECT_EQ(r.Json()["blob_files"]["count"], 0);
  ExpectPulls(repo_, m.digest(), m);
}

TEST_F(GcTest, DryRunChangesNothingAndListsWhatARunThenDeletes) {
  PushImage(client_, repo_, "v1", {.layer = "stays"});
  Manifest gone = PushImage(client_, repo_, "v2", {.layer = "goes"});
  PushImage(client_, "acme/second", "v1", {.layer = "goes too"});
  ASSERT_EQ(client_.Delete(ManifestPath(repo_, "v2")).status, 202);
  ASSERT_EQ(client_.Delete(ManifestPath("acme/second", "v1")).status, 202);
  PushBlob(client_, repo_, "a loose blob");
  LetASecondPass();

  json dry = Gc(true);
  EXPECT_TRUE(dry["dry_run"].get<bool>());
  EXPECT_EQ(dry["manifests"]["count"], 2);
  EXPECT_EQ(dry["blob_files"]["count"], 7);  // two manifests, their configs and layers, the loose blob
  EXPECT_TRUE(fs::exists(BlobFile(DigestOf("goes"))));
  ExpectPulls(repo_, gone.digest(), gone);
  EXPECT_EQ(Gc(true)["blob_files"]["items"], dry["blob_files"]["items"]) << "a dry run is repeatable";

  json real = Gc(false);
  for (const char* key : {"manifests", "blob_links", "blob_files"}) {
    EXPECT_EQ(real[key], dry[key]) << key;
  }
  EXPECT_EQ(real["bytes_freed"], dry["bytes_freed"]);
  EXPECT_FALSE(fs::exists(BlobFile(DigestOf("goes"))));
}

TEST_F(GcTest, FsckRepairQuarantinesACorruptBlob) {
  Manifest m = PushImage(client_, repo_, "v1", {.layer = "bytes that will rot"});
  const std::string layer = DigestOf("bytes that will rot");
  {
    std::fstream f(BlobFile(layer), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f);
    f.seekp(3);
    f.put('X');
  }
  json found = Fsck(false);
  EXPECT_EQ(found["blobs_checked"], 3);
  EXPECT_EQ(found["corrupt"]["count"], 1);
  EXPECT_TRUE(ListsPrefix(found, "corrupt", layer + " ")) << found.dump();
  EXPECT_EQ(found["quarantined"]["count"], 0);
  EXPECT_TRUE(fs::exists(BlobFile(layer))) << "without repair nothing changes";

  json repaired = Fsck(true);
  EXPECT_EQ(repaired["corrupt"]["count"], 1);
  EXPECT_EQ(repaired["quarantined"]["count"], 1);
  EXPECT_EQ(Items(repaired, "links_dropped"), std::vector<std::string>{repo_ + "@" + layer});
  EXPECT_FALSE(fs::exists(BlobFile(layer)));
  int quarantined = 0;
  for (const auto& e : fs::directory_iterator(keepd_.data_dir() / "quarantine")) {
    EXPECT_NE(e.path().filename().string().find(layer.substr(7)), std::string::npos);
    ++quarantined;
  }
  EXPECT_EQ(quarantined, 1);
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, layer)), 404, "BLOB_UNKNOWN"));
  EXPECT_TRUE(ListsPrefix(repaired, "broken_manifests", repo_ + "@" + m.digest() + ": blob " + layer))
      << repaired.dump();

  // Pushing the blob again mends the image.
  PushBlob(client_, repo_, "bytes that will rot");
  json clean = Fsck(false);
  EXPECT_EQ(clean["corrupt"]["count"], 0);
  EXPECT_EQ(clean["broken_manifests"]["count"], 0) << clean.dump();
  ExpectPulls(repo_, "v1", m);
}

TEST_F(GcTest, FsckReportsAMissingBlobFileAndSoDoesAStart) {
  Manifest m = PushImage(client_, repo_, "v1", {.layer = "will vanish"});
  const std::string layer = DigestOf("will vanish");
  ASSERT_TRUE(fs::remove(BlobFile(layer)));

  json report = Fsck(false);
  EXPECT_EQ(Items(report, "missing_blobs"), std::vector<std::string>{repo_ + "@" + layer});
  EXPECT_TRUE(ListsPrefix(report, "broken_manifests",
                          repo_ + "@" + m.digest() + ": blob " + layer + " its file is gone"))
      << report.dump();
  EXPECT_EQ(report["corrupt"]["count"], 0);

  RestartKeepd();
  EXPECT_NE(keepd_.Messages().find("1 of 3 blob links name a blob file that is missing"),
            std::string::npos)
      << keepd_.Messages();
  EXPECT_NE(keepd_.Messages().find(repo_ + "@" + layer), std::string::npos);

  json repaired = Fsck(true);
  EXPECT_EQ(Items(repaired, "links_dropped"), std::vector<std::string>{repo_ + "@" + layer});
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, layer)), 404, "BLOB_UNKNOWN"));
  EXPECT_EQ(Fsck(false)["missing_blobs"]["count"], 0);
}

TEST_F(GcTest, StartRemovesTemporaryFiles) {
  keepd_.Restart(KeepdProcess::Stop::kCrash, [&] {
    std::ofstream(keepd_.data_dir() / "tmp" / "0123abcd") << "half a blob";
  });
  client_.Disconnect();
  EXPECT_TRUE(fs::is_empty(keepd_.data_dir() / "tmp"));
  EXPECT_NE(keepd_.Messages().find("removed 1 temporary files"), std::string::npos)
      << keepd_.Messages();
}

TEST_F(GcTest, OnlyAdminsMayCallAndBodiesAreChecked) {
  Response created = client_.Post(
      "/admin/v1/users", json{{"name", "bob"}, {"password", "a-long-enough-password"}}.dump(),
      kJson);
  ASSERT_EQ(created.status, 201) << created.body;
  HttpsClient bob = keepd_.AnonymousClient();
  bob.SetBasicAuth("bob", "a-long-enough-password");
  EXPECT_TRUE(IsError(bob.Post("/admin/v1/gc", "{}", kJson), 403, "DENIED"));
  EXPECT_TRUE(IsError(bob.Post("/admin/v1/fsck", "{}", kJson), 403, "DENIED"));
  EXPECT_TRUE(IsError(keepd_.AnonymousClient().Post("/admin/v1/gc", "{}", kJson), 401,
                      "UNAUTHORIZED"));

  EXPECT_TRUE(IsError(client_.Post("/admin/v1/gc", R"({"grace_seconds":-1})", kJson), 400,
                      "INVALID"));
  EXPECT_TRUE(IsError(client_.Post("/admin/v1/gc", R"({"dry_run":"yes"})", kJson), 400,
                      "INVALID"));
  EXPECT_TRUE(IsError(client_.Post("/admin/v1/fsck", R"({"fix":true})", kJson), 400, "INVALID"));
  EXPECT_TRUE(IsError(client_.Get("/admin/v1/gc"), 405, "UNSUPPORTED"));
}

TEST_F(GcTest, ASecondRunWhileOneIsGoingIsRefused) {
  // A large blob makes the integrity check take a while.
  std::string big(96 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i >> 12);
  PushBlob(client_, repo_, big);
  // GC calls go on while the check runs, until one finds it running: no
  // guess of how long the check takes. A GC may take the lock first and the
  // check be the one refused; either way each call answers 200 or CONFLICT.
  std::atomic<int> refused = 0;
  auto expect_done_or_refused = [&](const Response& r) {
    if (r.status == 409) {
      EXPECT_TRUE(IsError(r, 409, "CONFLICT")) << r.body;
      ++refused;
    } else {
      EXPECT_EQ(r.status, 200) << r.body;
    }
  };
  for (int attempt = 0; attempt < 5 && refused == 0; ++attempt) {
    std::atomic<bool> checked = false;
    std::thread first([&] {
      HttpsClient c = keepd_.AdminClient();
      expect_done_or_refused(c.Post("/admin/v1/fsck", "{}", kJson));
      checked = true;
    });
    while (!checked && refused == 0) {
      expect_done_or_refused(client_.Post("/admin/v1/gc", R"({"dry_run":true})", kJson));
    }
    first.join();
  }
  EXPECT_GE(refused, 1) << "no call found another one running";
}

}  // namespace
}  // namespace keep::testkit
