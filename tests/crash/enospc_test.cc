// A full disk: keepd's data directory on a small filesystem that the test
// fills with blobs. An upload that does not fit must be refused with the
// spec's error body and leave nothing behind, and what was stored before must
// still be served.
#include "tests/crash/image_pusher.h"
#include "tests/crash/inspect.h"
#include "tests/crash/small_fs.h"
#include "tests/support/keepd_process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::uint64_t kDiskBytes = 8 << 20;
// Blobs of these sizes fill the disk, each size until it is refused twice in
// a row: at the end not even a block (1 KiB on a small ext4) is left.
constexpr std::size_t kFillSizes[] = {1 << 20, 256 << 10, 64 << 10, 16 << 10, 4 << 10, 1 << 10};
constexpr int kMaxPushesPerStep = 64;
constexpr std::size_t kSmallPush = 1000;

class EnospcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    keepd_.emplace(json::object(), [&](const fs::path& data) {
      disk_ = SmallFilesystem::Mount(data, kDiskBytes, &why);
    });
    if (!disk_) GTEST_SKIP() << "no small filesystem for keepd's data: " << why;
    std::cout << "[ disk     ] " << kDiskBytes / 1024 << " KiB, " << disk_->kind() << "\n";
    client_.emplace(keepd_->AdminClient());
  }

  void TearDown() override {
    client_.reset();
    std::optional<fs::path> dir;
    if (keepd_) dir = keepd_->data_dir().parent_path();
    keepd_.reset();  // stops keepd before its disk goes
    bool mounted = disk_ != nullptr;
    disk_.reset();
    // What keepd could not remove with a filesystem mounted in its directory.
    std::error_code ignored;
    if (mounted && dir && !HasFailure()) fs::remove_all(*dir, ignored);
  }

  // The reply; a failure (and status 0) when the exchange broke.
  Response Send(const Request& request) {
    std::optional<Response> r = client_->TrySend(request);
    if (r) return *r;
    ADD_FAILURE() << request.target << ": no reply (" << client_->last_error()
                  << "); keepd stderr:\n" << keepd_->Messages();
    return {};
  }
  Response PostBlob(const std::string& bytes) {
    return Send({http::verb::post, UploadsPath(repo_) + "?digest=" + DigestOf(bytes), {}, bytes});
  }

  // The reply refuses the request for lack of space, in the spec's words:
  // 507 Insufficient Storage, never a 500 that would send the client back
  // to retry or leave the operator guessing.
  void ExpectDiskFull(const Response& r, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(r.status, 507) << r.body;
    ASSERT_TRUE(HasOciErrorBody(r)) << "request log:\n" << LogLinesAbout(*keepd_, {repo_});
    std::string message = r.Json()["errors"][0]["message"];
    ++refusal_kinds_[std::to_string(r.status) + " " + message];
    std::transform(message.begin(), message.end(), message.begin(), ::tolower);
    EXPECT_TRUE(message.find("full") != std::string::npos ||
                message.find("no space") != std::string::npos)
        << "the message does not say that the disk is full: " << r.body;
  }

  // Refused, and nothing of it kept: no temporary file, no blob.
  void ExpectRefusedCleanly(const Response& r, const std::string& digest) {
    ExpectDiskFull(r, "uploading " + digest);
    std::vector<fs::path> leftovers = FilesUnder(keepd_->data_dir() / "tmp");
    EXPECT_THAT(leftovers, ::testing::IsEmpty()) << "left behind by the refused upload";
    Response get = Send({http::verb::get, BlobPath(repo_, digest)});
    EXPECT_EQ(get.status, 404) << "a refused blob is served: " << get.body.size() << " bytes";
  }

  // An upload session: where it is and what it holds.
  struct Session {
    std::string location;
    std::string id;
    std::uint64_t size = 0;
  };
  std::optional<Session> OpenSession() {
    Response r = Send({http::verb::post, UploadsPath(repo_)});
    if (r.status == 202) return Session{r.Header("Location"), r.Header("Docker-Upload-UUID"), 0};
    ExpectDiskFull(r, "starting an upload session");
    return std::nullopt;
  }
  // PATCHes the next chunk; the session grows when it is accepted.
  Response Append(Session& session, const std::string& chunk) {
    std::string range = std::to_string(session.size) + "-" +
                        std::to_string(session.size + chunk.size() - 1);
    Response r = Send({http::verb::patch, session.location,
                       {{"Content-Range", range}, {"Content-Type", "application/octet-stream"}},
                       chunk});
    if (r.status == 202) {
      session.location = r.Header("Location");
      session.size += chunk.size();
    }
    return r;
  }
  // The session holds what was accepted, in the server's answer and on disk.
  void ExpectSessionHolds(const Session& session) {
    Response status = Send({http::verb::get, session.location});
    EXPECT_EQ(status.status, 204) << status.body;
    EXPECT_EQ(status.Header("Range"), "0-" + std::to_string(session.size ? session.size - 1 : 0));
    std::error_code ec;
    fs::path data = keepd_->data_dir() / "uploads" / session.id;
    EXPECT_EQ(fs::file_size(data, ec), session.size) << data << ": " << ec.message();
  }

  // Calls push (true: accepted) until it is refused twice in a row; the refusals.
  template <class Push>
  static int UntilRefused(Push push) {
    int refusals = 0;
    for (int i = 0, in_a_row = 0; i < kMaxPushesPerStep && in_a_row < 2; ++i) {
      bool accepted = push();
      refusals += accepted ? 0 : 1;
      in_a_row = accepted ? 0 : in_a_row + 1;
    }
    return refusals;
  }

  // Fills the disk with random blobs of decreasing sizes, then tops it off
  // with small chunks to `filler` (opened while there was room: that needs
  // the database, and appending needs no new directory); the refusals.
  int FillDisk(Randomness& random, Session& filler) {
    int refusals = 0;
    for (std::size_t size : kFillSizes) {
      refusals += UntilRefused([&] {
        std::string bytes = random.Bytes(size);
        Response r = PostBlob(bytes);
        if (r.status == 201) stored_.push_back({repo_, DigestOf(bytes), bytes.size()});
        if (r.status != 201) ExpectRefusedCleanly(r, DigestOf(bytes));
        return r.status == 201;
      });
    }
    return refusals + UntilRefused([&] {
      Response r = Append(filler, random.Bytes(kFillSizes[std::size(kFillSizes) - 1]));
      if (r.status != 202) ExpectDiskFull(r, "a chunk to top the disk off");
      if (r.status != 202) ExpectSessionHolds(filler);
      return r.status == 202;
    });
  }

  std::optional<KeepdProcess> keepd_;
  std::unique_ptr<SmallFilesystem> disk_;  // outlives keepd_ (reset in TearDown)
  std::optional<HttpsClient> client_;
  const std::string repo_ = "full/app";
  std::vector<AckedBlob> stored_;  // blobs that fitted
  std::map<std::string, int> refusal_kinds_;  // "<status> <message>" → how many
};

TEST_F(EnospcTest, FullDiskRefusesUploadsCleanlyAndKeepsServing) {
  Randomness random(TestSeed());
  ImagePusher pusher(keepd_->AdminClient(), random.Between(0, SIZE_MAX));
  std::optional<AckedImage> before = pusher.PushRandomImage(repo_, "before");
  ASSERT_TRUE(before) << "cannot push an image on an empty disk: "
                      << (pusher.unexpected().empty() ? "no reply"
                                                       : pusher.unexpected().front().body);
  std::optional<Session> early = OpenSession(), filler = OpenSession();
  ASSERT_TRUE(early && filler);

  int refusals = FillDisk(random, *filler);
  ASSERT_GT(refusals, 0) << "the disk never filled up";
  std::cout << "[ full     ] stored " << stored_.size() << " blobs, refused " << refusals
            << "; " << FilesUnder(keepd_->data_dir()).size() << " files, "
            << disk_->free_bytes() << " bytes free\n";
  for (const auto& [kind, n] : refusal_kinds_) {
    std::cout << "[ refused  ] " << n << "x " << kind << "\n";
  }

  // What was stored before is served as it was.
  EXPECT_THAT(ProblemsWithImage(*client_, *before), ::testing::IsEmpty());
  for (const AckedBlob& blob : stored_) EXPECT_EQ(ProblemWithBlob(*client_, blob), "");

  // Nothing was deleted: small pushes of every kind are still refused, cleanly.
  std::string small = random.Bytes(kSmallPush);
  ExpectRefusedCleanly(PostBlob(small), DigestOf(small));
  ExpectDiskFull(Append(*early, small), "a chunk to a session opened before");
  ExpectSessionHolds(*early);
  EXPECT_EQ(Send({http::verb::delete_, early->location}).status, 204);
  if (std::optional<Session> late = OpenSession()) {  // the database may still have room
    ExpectDiskFull(Append(*late, small), "a chunk to a session opened on a full disk");
    ExpectSessionHolds(*late);
  }
  Manifest other = before->manifest;
  other.bytes.insert(other.bytes.size() - 2, " ");  // same image, another digest
  Response put = Send({http::verb::put, ManifestPath(repo_, "after"),
                       {{"Content-Type", other.media_type}}, other.bytes});
  ExpectDiskFull(put, "a manifest");
  EXPECT_EQ(Send({http::verb::get, ManifestPath(repo_, "after")}).status, 404);
  EXPECT_EQ(Send({http::verb::get, ManifestPath(repo_, other.digest())}).status, 404);
  EXPECT_THAT(FilesUnder(keepd_->data_dir() / "tmp"), ::testing::IsEmpty());

  // And keepd is alive and well.
  EXPECT_EQ(Send({http::verb::get, "/v2/"}).status, 200);
  EXPECT_THAT(ProblemsWithImage(*client_, *before), ::testing::IsEmpty());
  EXPECT_TRUE(keepd_->running());
  // keepd holds its database exclusively: it is checked with keepd stopped
  // (for good: on this full disk keepd would not start again).
  keepd_->Shutdown();
  EXPECT_EQ(CheckDatabase(keepd_->data_dir() / "metadata.db"), "ok");
}

}  // namespace
}  // namespace keep::testkit
