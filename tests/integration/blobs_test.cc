// Blobs: GET, HEAD, ranges and DELETE under /v2/<name>/blobs/<digest>.
#include "tests/support/keepd_test.h"

#include <filesystem>
#include <random>

namespace keep::testkit {
namespace {

// Bytes of every value, larger than the server's streaming buffer, so that
// a blob served in pieces or as text is caught.
std::string BinaryBlob(std::size_t size) {
  std::mt19937 rng(42);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

class BlobTest : public KeepdTest {
 protected:
  const std::string repo_ = "library/blobs";
  const std::string data_ = "0123456789";
};

TEST_F(BlobTest, GetReturnsTheExactBytes) {
  std::string data = BinaryBlob(600 * 1024 + 7);
  std::string digest = PushBlob(client_, repo_, data);
  Response r = client_.Get(BlobPath(repo_, digest));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), data.size());
  EXPECT_TRUE(r.body == data) << "the blob's bytes differ";
  EXPECT_EQ(r.Header("Docker-Content-Digest"), digest);
}

TEST_F(BlobTest, HeadAnswersSizeAndDigestWithoutBody) {
  std::string digest = PushBlob(client_, repo_, data_);
  Response r = client_.Head(BlobPath(repo_, digest));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(data_.size()));
  EXPECT_EQ(r.Header("Docker-Content-Digest"), digest);
  EXPECT_TRUE(r.body.empty());
  // Had HEAD sent a body, it would be read as the next response.
  EXPECT_EQ(client_.Get("/v2/").status, 200);
}

TEST_F(BlobTest, RangeRequestAnswersPartialContent) {
  std::string digest = PushBlob(client_, repo_, data_);
  Response r = client_.Get(BlobPath(repo_, digest), {{"Range", "bytes=2-5"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "2345");
  EXPECT_EQ(r.Header("Content-Range"), "bytes 2-5/10");
  EXPECT_EQ(r.Header("Content-Length"), "4");
}

TEST_F(BlobTest, OpenEndedAndSuffixRangesAreServed) {
  std::string digest = PushBlob(client_, repo_, data_);
  EXPECT_EQ(client_.Get(BlobPath(repo_, digest), {{"Range", "bytes=7-"}}).body, "789");
  EXPECT_EQ(client_.Get(BlobPath(repo_, digest), {{"Range", "bytes=-3"}}).body, "789");
}

TEST_F(BlobTest, UnsatisfiableRangeIsRefused) {
  std::string digest = PushBlob(client_, repo_, data_);
  Response r = client_.Get(BlobPath(repo_, digest), {{"Range", "bytes=100-200"}});
  EXPECT_EQ(r.status, 416) << r.body;
}

// RFC 9110 §14.1.1: a range whose last byte precedes its first is invalid,
// and an invalid Range is ignored (§14.2): the whole blob, 200.
TEST_F(BlobTest, RangeEndingBeforeItStartsIsIgnored) {
  std::string digest = PushBlob(client_, repo_, data_);
  for (const char* range : {"bytes=5-0", "bytes=500-0"}) {
    SCOPED_TRACE(range);
    Response r = client_.Get(BlobPath(repo_, digest), {{"Range", range}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, data_);
    EXPECT_FALSE(r.HasHeader("Content-Range"));
  }
}

// A blob file shorter than the size its link records (truncated on disk) is
// refused with an error that sends the operator to fsck, never served short.
TEST_F(BlobTest, TruncatedBlobFileIsRefused) {
  std::string data = BinaryBlob(100 * 1024);
  std::string digest = PushBlob(client_, repo_, data);
  std::string hex = digest.substr(digest.find(':') + 1);
  std::filesystem::resize_file(keepd_.data_dir() / "blobs" / "sha256" / hex.substr(0, 2) / hex,
                               data.size() / 2);
  for (auto verb : {http::verb::get, http::verb::head}) {
    SCOPED_TRACE(http::to_string(verb));
    Response r = client_.Send({verb, BlobPath(repo_, digest)});
    EXPECT_EQ(r.status, 500) << r.body;
    if (verb == http::verb::get) {
      EXPECT_TRUE(IsError(r, 500, "UNKNOWN"));
      EXPECT_NE(ErrorMessage(r).find("keepctl fsck"), std::string::npos) << r.body;
    }
    EXPECT_NE(r.Header("Content-Length"), std::to_string(data.size() / 2));
  }
  EXPECT_NE(keepd_.Messages().find(digest), std::string::npos) << "the operator was not told";
  EXPECT_EQ(client_.Get("/v2/").status, 200);
}

TEST_F(BlobTest, DeletedBlobIsGone) {
  std::string digest = PushBlob(client_, repo_, data_);
  EXPECT_EQ(client_.Delete(BlobPath(repo_, digest)).status, 202);
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, digest)), 404, "BLOB_UNKNOWN"));
  EXPECT_EQ(client_.Head(BlobPath(repo_, digest)).status, 404);
  EXPECT_TRUE(IsError(client_.Delete(BlobPath(repo_, digest)), 404, "BLOB_UNKNOWN"));
}

TEST_F(BlobTest, UnknownBlobIsNotFound) {
  PushBlob(client_, repo_, data_);
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, DigestOf("other"))), 404, "BLOB_UNKNOWN"));
  EXPECT_EQ(client_.Head(BlobPath(repo_, DigestOf("other"))).status, 404);
}

TEST_F(BlobTest, BlobOfAnotherRepositoryIsNotServed) {
  std::string digest = PushBlob(client_, "team-a/app", data_);
  EXPECT_TRUE(IsError(client_.Get(BlobPath("team-b/app", digest)), 404, "BLOB_UNKNOWN"));
  PushBlob(client_, "team-b/app", "something else");
  EXPECT_TRUE(IsError(client_.Get(BlobPath("team-b/app", digest)), 404, "BLOB_UNKNOWN"));
}

TEST_F(BlobTest, MalformedDigestIsInvalid) {
  std::string hex = DigestOf(data_).substr(7);
  for (const std::string& digest : std::vector<std::string>{"sha256:xyz", "sha256:" + hex.substr(1), "md5:" + hex,
                             "sha256:" + std::string(64, 'A'), "sha256" + hex, hex}) {
    SCOPED_TRACE(digest);
    EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, digest)), 400, "DIGEST_INVALID"));
  }
}

}  // namespace
}  // namespace keep::testkit
