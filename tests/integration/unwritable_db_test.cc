// The metadata database's files, or the blob store's directories, becoming
// unwritable under a running keepd (an operator's chattr +i, a filesystem
// that turns read-only): writes must fail with an error that tells the
// client nothing of the server's files, reads go on, and keepd must not die. With SQLite's
// wal-index in a memory-mapped metadata.db-shm, the first write to that
// mapping killed keepd with SIGBUS.
//
// Making a file immutable needs root (CAP_LINUX_IMMUTABLE) and a filesystem
// with the attribute (ext4, xfs, btrfs); the tests run as root in CI. Where
// chattr +i fails the test is skipped, saying why.
#include "tests/support/keepd_test.h"

#include <cstdlib>
#include <filesystem>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

// The database's files: metadata.db and whatever SQLite keeps beside it.
std::vector<fs::path> DatabaseFiles(const KeepdProcess& keepd) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(keepd.data_dir())) {
    if (entry.path().filename().string().rfind("metadata.db", 0) == 0)
      files.push_back(entry.path());
  }
  return files;
}

bool Chattr(const std::string& flag, const std::vector<fs::path>& files) {
  std::string command = "chattr " + flag;
  for (const auto& f : files) command += " '" + f.string() + "'";
  return std::system((command + " 2>/dev/null").c_str()) == 0;
}

// Makes the files immutable for its lifetime.
class Immutable {
 public:
  explicit Immutable(std::vector<fs::path> files) : files_(std::move(files)) {
    ok_ = Chattr("+i", files_);
  }
  ~Immutable() { Chattr("-i", files_); }
  Immutable(const Immutable&) = delete;
  Immutable& operator=(const Immutable&) = delete;
  bool ok() const { return ok_; }

 private:
  std::vector<fs::path> files_;
  bool ok_ = false;
};

using UnwritableDatabaseTest = KeepdTest;

TEST_F(UnwritableDatabaseTest, WritesFailAndReadsGoOn) {
  Manifest image = PushImage(client_, "acme/app", "v1", {.layer = "before"});
  Manifest next = PrepareImage(client_, "acme/app", {.layer = "after"});
  {
    Immutable frozen(DatabaseFiles(keepd_));
    if (!frozen.ok()) GTEST_SKIP() << "chattr +i is not possible here (needs root and ext4/xfs)";
    // Enough writes to reach every page SQLite maps, and reads between them.
    for (int i = 0; i < 20; ++i) {
      SCOPED_TRACE(i);
      Response put = PutManifest(client_, "acme/app", "v" + std::to_string(i + 2), next);
      ASSERT_TRUE(keepd_.running()) << "keepd died writing to an unwritable database";
      EXPECT_TRUE(IsError(put, 500, "UNKNOWN")) << put.status << " " << put.body;
      EXPECT_NE(ErrorMessage(put).find("cannot be written"), std::string::npos) << put.body;
      Response get = client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", image.media_type}});
      EXPECT_EQ(get.status, 200) << get.body;
      EXPECT_TRUE(get.body == image.bytes);
      EXPECT_EQ(client_.Get(BlobPath("acme/app", DigestOf("before"))).status, 200);
    }
    EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v1"});
  }
  // Writable again: writes work again, without a restart.
  EXPECT_EQ(PutManifest(client_, "acme/app", "v2", next).status, 201);
  EXPECT_EQ(TagsOf(client_, "acme/app"), (std::vector<std::string>{"v1", "v2"}));
  EXPECT_TRUE(keepd_.running());
}

// A storage fault is the operator's to read, not the client's: the 500 a
// client gets names no path of the server and no system error, only a
// reference that finds the full story in keepd's log.
TEST_F(UnwritableDatabaseTest, AStorageFaultTellsTheClientNoServerPath) {
  const fs::path data = keepd_.data_dir();
  Immutable frozen({data / "tmp", data / "uploads"});
  if (!frozen.ok()) GTEST_SKIP() << "chattr +i is not possible here (needs root and ext4/xfs)";
  const std::string bytes = "a layer that cannot be written";
  for (const Response& r :
       {client_.Post(UploadsPath("acme/app") + "?digest=" + DigestOf(bytes), bytes),
        client_.Post(UploadsPath("acme/app"))}) {
    EXPECT_TRUE(IsError(r, 500, "UNKNOWN")) << r.status << " " << r.body;
    EXPECT_EQ(r.body.find(data.string()), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("not permitted"), std::string::npos) << r.body;  // nor the system's error
    const std::string message = ErrorMessage(r);
    const auto at = message.find("reference ");
    ASSERT_NE(at, std::string::npos) << message;
    const std::string reference = message.substr(at + 10, 12);
    // The log has it all, under the same reference.
    const std::string log = keepd_.Messages();
    const auto logged = log.find(reference);
    ASSERT_NE(logged, std::string::npos) << reference << " not in: " << log;
    const std::string line = log.substr(log.rfind('\n', logged) + 1);
    EXPECT_NE(line.substr(0, line.find('\n')).find("not permitted"), std::string::npos) << line;
  }
  EXPECT_NE(keepd_.Messages().find(data.string()), std::string::npos);
  EXPECT_TRUE(keepd_.running());
}

}  // namespace
}  // namespace keep::testkit
