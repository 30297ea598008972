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

TEST_F(ReadVerifyTest, DamagedManifestIsNotServed) {
  Manifest m = PushImage(client_, "acme/app", "v1");
  Corrupt(BlobFile(keepd_, m.digest()), 10);
  for (const std::string& ref : {std::string("v1"), m.digest()}) {
    Response r = client_.Get(ManifestPath("acme/app", ref), {{"Accept", m.media_type}});
    EXPECT_TRUE(IsError(r, 500, "UNKNOWN")) << r.status << " " << r.body;
    EXPECT_NE(r.body.find("damaged"), std::string::npos) << r.body;
  }
  EXPECT_NE(keepd_.Messages().find("is damaged on disk"), std::string::npos);
}

}  // namespace
}  // namespace keep::testkit
