// Stored bytes are checked against their digest when read: a damaged
// manifest (or a sampled blob) is refused with an error, never served.
#include "tests/support/keepd_test.h"

#include <fstream>

namespace keep::testkit {
namespace {

// The file keepd stores a blob in.
std::filesystem::path BlobFile(const KeepdProcess& keepd, const std::string& digest) {
  std::string hex = digest.substr(digest.find(':') + 1);
  return keepd.data_dir() / "blobs" / "sha256" / hex.substr(0, 2) / hex;
}

// Flips one byte of the file in place (same size, so only a hash can tell).
void Corrupt(const std::filesystem::path& file, std::streamoff at = 0) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << "cannot open " << file;
  f.seekg(at);
  char c = 0;
  f.get(c);
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x20));
}

class ReadVerifyTest : public KeepdTest {};

// Every blob read verified, for the test.
class AlwaysVerifyTest : public KeepdTest {
 protected:
  AlwaysVerifyTest() : KeepdTest({{"integrity", {{"verify_reads_percent", 100}}}}) {}
};

TEST_F(ReadVerifyTest, DamagedManifestIsNotServed) {
  Manifest m = PushImage(client_, "acme/app", "v1");
  Corrupt(BlobFile(keepd_, m.digest()), 10);
  Response r = client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}});
  EXPECT_TRUE(IsError(r, 500, "UNKNOWN")) << r.status << " " << r.body;
  EXPECT_NE(r.body.find("damaged"), std::string::npos) << r.body;
  // Quarantined now: by digest it is refused as missing, still never served.
  r = client_.Get(ManifestPath("acme/app", m.digest()), {{"Accept", m.media_type}});
  EXPECT_TRUE(IsError(r, 500, "UNKNOWN")) << r.status << " " << r.body;
  EXPECT_NE(r.body.find("missing"), std::string::npos) << r.body;
  EXPECT_NE(keepd_.Messages().find("is damaged on disk"), std::string::npos);
  // The file went to quarantine, out of the blob tree.
  EXPECT_FALSE(std::filesystem::exists(BlobFile(keepd_, m.digest())));
  EXPECT_FALSE(std::filesystem::is_empty(keepd_.data_dir() / "quarantine"));
}

// A manifest is checked when read from its file, and its checked bytes are
// kept in memory: a later change to the file changes nothing that is
// served, and a deleted manifest is gone whatever is in memory.
TEST_F(ReadVerifyTest, AManifestsCheckedBytesAreServedAfterItsFileChanges) {
  Manifest m = PushImage(client_, "acme/app", "v1");
  Response r = client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}});
  ASSERT_EQ(r.status, 200) << r.body;
  Corrupt(BlobFile(keepd_, m.digest()), 10);
  for (const std::string& ref : {std::string("v1"), m.digest()}) {
    r = client_.Get(ManifestPath("acme/app", ref), {{"Accept", m.media_type}});
    EXPECT_EQ(r.status, 200) << ref << ": " << r.body;
    EXPECT_EQ(r.body, m.bytes) << ref;
    EXPECT_EQ(r.Header("Docker-Content-Digest"), m.digest()) << ref;
  }
  ASSERT_EQ(client_.Delete(ManifestPath("acme/app", m.digest())).status, 202);
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", m.digest()), {{"Accept", m.media_type}}).status,
            404);
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}}).status, 404);
}

TEST_F(AlwaysVerifyTest, DamagedBlobIsQuarantinedAndNeverServed) {
  const std::string layer(300 * 1024, 'L');
  PushImage(client_, "acme/app", "v1", {.layer = layer});
  std::string digest = DigestOf(layer);
  ASSERT_EQ(client_.Get(BlobPath("acme/app", digest)).body, layer);  // intact: served
  Corrupt(BlobFile(keepd_, digest), 200 * 1024);
  Response r = client_.Get(BlobPath("acme/app", digest));
  EXPECT_TRUE(IsError(r, 500, "UNKNOWN")) << r.status;
  EXPECT_EQ(r.body.find(std::string(1000, 'L')), std::string::npos) << "blob bytes were sent";
  EXPECT_FALSE(std::filesystem::exists(BlobFile(keepd_, digest)));
  // Pushed again, it is whole and served.
  PushBlob(client_, "acme/app", layer);
  EXPECT_EQ(client_.Get(BlobPath("acme/app", digest)).body, layer);
}

TEST_F(ReadVerifyTest, NoSamplingServesWithoutRehashing) {
  // verify_reads_percent defaults to 1: most reads stream straight away.
  // With 0 a damaged blob goes out as stored (fsck is what finds it then);
  // this pins down that the sampling is what the test above exercises.
  KeepdProcess quiet(nlohmann::json{{"integrity", {{"verify_reads_percent", 0}}}});
  HttpsClient c = quiet.AdminClient();
  const std::string layer(64 * 1024, 'Q');
  PushImage(c, "acme/app", "v1", {.layer = layer});
  Corrupt(BlobFile(quiet, DigestOf(layer)), 10);
  EXPECT_EQ(c.Get(BlobPath("acme/app", DigestOf(layer))).status, 200);
}

}  // namespace
}  // namespace keep::testkit
