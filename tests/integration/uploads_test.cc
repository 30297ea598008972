// Blob uploads: monolithic, chunked, docker-style streamed, resumed after a
// restart, cancelled, refused, and mounted from another repository.
#include "tests/support/keepd_test.h"

#include "core/digest.h"
#include "storage/storage.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

namespace keep::testkit {
namespace {

std::string WithDigest(const std::string& location, std::string_view digest) {
  char sep = location.find('?') == std::string::npos ? '?' : '&';
  return location + sep + "digest=" + std::string(digest);
}

class UploadTest : public KeepdTest {
 protected:
  // PATCH with Content-Range, as the OCI spec's chunked upload sends.
  Response PatchRange(const std::string& location, std::string_view chunk, std::size_t first) {
    std::string range = std::to_string(first) + "-" + std::to_string(first + chunk.size() - 1);
    return client_.Patch(location, std::string(chunk),
                         {{"Content-Range", range}, {"Content-Type", "application/octet-stream"}});
  }
  // PATCH streamed with chunked transfer coding and no Content-Range, as docker does.
  Response PatchStreamed(const std::string& location, std::string_view chunk) {
    return client_.Send({http::verb::patch, location,
                         {{"Content-Type", "application/octet-stream"}}, std::string(chunk),
                         /*chunked=*/true});
  }
  Response Finish(const std::string& location, std::string_view digest, std::string body = {}) {
    return client_.Put(WithDigest(location, digest), std::move(body));
  }
  // The blob is served with exactly these bytes.
  void ExpectBlob(std::string_view repo, std::string_view digest, std::string_view bytes) {
    Response r = client_.Get(BlobPath(repo, digest));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, bytes);
  }
  void ExpectNoBlob(std::string_view repo, std::string_view digest) {
    EXPECT_TRUE(IsError(client_.Get(BlobPath(repo, digest)), 404, "BLOB_UNKNOWN"));
    EXPECT_EQ(client_.Head(BlobPath(repo, digest)).status, 404);
  }

  const std::string repo_ = "library/uploads";
  const std::string first_ = "0123456789";
  const std::string second_ = "abcdefghij";
  const std::string whole_ = first_ + second_;
};

TEST_F(UploadTest, MonolithicPostStoresTheBlob) {
  std::string digest = DigestOf(whole_);
  Response r = client_.Post(UploadsPath(repo_) + "?digest=" + digest, whole_);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Location"), BlobPath(repo_, digest));
  EXPECT_EQ(r.Header("Docker-Content-Digest"), digest);
  ExpectBlob(repo_, digest, whole_);
}

// Bytes that differ everywhere, so that a piece written at the wrong offset shows.
std::string Noise(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen());
  return out;
}

// How many of a file's pages are in the page cache; -1 when it cannot be told.
long CachedPages(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  ::fstat(fd, &st);
  void* map = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return -1;
  const long page = ::sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> in((static_cast<std::size_t>(st.st_size) + page - 1) / page);
  long cached = -1;
  if (::mincore(map, static_cast<std::size_t>(st.st_size), in.data()) == 0) {
    cached = 0;
    for (unsigned char v : in) cached += v & 1;
  }
  ::munmap(map, static_cast<std::size_t>(st.st_size));
  return cached;
}

// Large bodies are written around the page cache in whole blocks, and what
// is not a whole block through it; a session resumed in the middle of a
// block goes through the cache. Every mix comes back byte for byte.
TEST_F(UploadTest, LargeBodiesInPiecesOfAnyAlignmentComeBackByteForByte) {
  const std::string one = Noise((3 << 20) + 123, 1);
  Response r = client_.Post(UploadsPath(repo_) + "?digest=" + DigestOf(one), one);
  ASSERT_EQ(r.status, 201) << r.body;
  // It went around the cache but for its last, partial block, where the
  // file system is one to do that on (ext4 here, and on most machines).
  std::string hex = DigestOf(one).substr(7);
  auto file = keepd_.data_dir() / "blobs" / "sha256" / hex.substr(0, 2) / hex;
  ASSERT_TRUE(std::filesystem::exists(file));
  if (WritesAroundPageCache(keepd_.data_dir())) {
    long cached = CachedPages(file);
    ASSERT_GE(cached, 0);
    EXPECT_LE(cached, 1) << "a 3 MiB blob was written through the page cache";
  }
  ExpectBlob(repo_, DigestOf(one), one);

  // Ends off a block, so the next request resumes off a block; then a
  // request that ends on one, one that resumes on a block, and a PUT with
  // the rest.
  const std::string a = Noise((1 << 20) + 1000, 2), b = Noise((2 << 20) - 1000, 3),
                    c = Noise((1 << 20) + 5, 4), d = Noise(3 << 20, 5);
  const std::string whole = a + b + c + d;
  std::string location = StartUpload(client_, repo_);
  std::size_t at = 0;
  for (const std::string* piece : {&a, &b, &c}) {
    r = PatchRange(location, *piece, at);
    ASSERT_EQ(r.status, 202) << r.body;
    at += piece->size();
    EXPECT_EQ(r.Header("Range"), "0-" + std::to_string(at - 1));
    location = r.Header("Location");
  }
  r = Finish(location, DigestOf(whole), d);
  ASSERT_EQ(r.status, 201) << r.body;
  ExpectBlob(repo_, DigestOf(whole), whole);
}

TEST_F(UploadTest, PostThenPutWithBody) {
  std::string location = StartUpload(client_, repo_);
  Response r = Finish(location, DigestOf(whole_), whole_);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), DigestOf(whole_));
  ExpectBlob(repo_, DigestOf(whole_), whole_);
}

TEST_F(UploadTest, ChunksWithContentRangeAreAppended) {
  std::string location = StartUpload(client_, repo_);
  Response r = PatchRange(location, first_, 0);
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.Header("Range"), "0-9");
  ASSERT_TRUE(r.HasHeader("Location"));
  r = PatchRange(r.Header("Location"), second_, 10);
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.Header("Range"), "0-19");
  EXPECT_EQ(Finish(r.Header("Location"), DigestOf(whole_)).status, 201);
  ExpectBlob(repo_, DigestOf(whole_), whole_);
}

TEST_F(UploadTest, StreamedPatchWithoutContentRangeIsAppended) {
  std::string location = StartUpload(client_, repo_);
  Response r = PatchStreamed(location, first_);
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.Header("Range"), "0-9");
  r = PatchStreamed(r.Header("Location"), second_);
  EXPECT_EQ(r.Header("Range"), "0-19");
  EXPECT_EQ(Finish(r.Header("Location"), DigestOf(whole_)).status, 201);
  ExpectBlob(repo_, DigestOf(whole_), whole_);
}

TEST_F(UploadTest, OutOfOrderChunkIsRefusedWithTheCurrentRange) {
  std::string location = StartUpload(client_, repo_);
  ASSERT_EQ(PatchRange(location, first_, 0).status, 202);
  Response r = PatchRange(location, second_, 20);
  EXPECT_TRUE(IsError(r, 416, "BLOB_UPLOAD_INVALID"));
  EXPECT_EQ(r.Header("Range"), "0-9");
  // The session survives the refusal: the right chunk still completes it.
  ASSERT_EQ(PatchRange(location, second_, 10).status, 202);
  EXPECT_EQ(Finish(location, DigestOf(whole_)).status, 201);
  ExpectBlob(repo_, DigestOf(whole_), whole_);
}

TEST_F(UploadTest, StatusReportsTheBytesReceived) {
  std::string location = StartUpload(client_, repo_);
  ASSERT_EQ(PatchRange(location, first_, 0).status, 202);
  Response r = client_.Get(location);
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(r.Header("Range"), "0-9");
  EXPECT_EQ(r.Header("Location"), location);
  EXPECT_TRUE(r.body.empty());
}

TEST_F(UploadTest, CancelledUploadIsUnknown) {
  std::string location = StartUpload(client_, repo_);
  ASSERT_EQ(PatchRange(location, first_, 0).status, 202);
  EXPECT_EQ(client_.Delete(location).status, 204);
  EXPECT_TRUE(IsError(client_.Get(location), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(PatchRange(location, second_, 10), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(Finish(location, DigestOf(first_)), 404, "BLOB_UPLOAD_UNKNOWN"));
  ExpectNoBlob(repo_, DigestOf(first_));
}

TEST_F(UploadTest, UnknownUploadIdIsUnknown) {
  EXPECT_TRUE(IsError(client_.Get(UploadsPath(repo_) + std::string(32, 'a')), 404,
                      "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(client_.Get(UploadsPath(repo_) + "not-an-id"), 404, "BLOB_UPLOAD_UNKNOWN"));
}

TEST_F(UploadTest, WrongDigestOnFinishStoresNothing) {
  std::string location = StartUpload(client_, repo_);
  ASSERT_EQ(PatchRange(location, whole_, 0).status, 202);
  std::string claimed = DigestOf("something else");
  EXPECT_TRUE(IsError(Finish(location, claimed), 400, "DIGEST_INVALID"));
  ExpectNoBlob(repo_, claimed);
  ExpectNoBlob(repo_, DigestOf(whole_));
}

TEST_F(UploadTest, WrongDigestOnMonolithicPostStoresNothing) {
  std::string claimed = DigestOf("something else");
  Response r = client_.Post(UploadsPath(repo_) + "?digest=" + claimed, whole_);
  EXPECT_TRUE(IsError(r, 400, "DIGEST_INVALID"));
  ExpectNoBlob(repo_, claimed);
  ExpectNoBlob(repo_, DigestOf(whole_));
}

TEST_F(UploadTest, FinishWithoutDigestIsRefused) {
  std::string location = StartUpload(client_, repo_);
  EXPECT_TRUE(IsError(client_.Put(location, whole_), 400, "DIGEST_INVALID"));
  ExpectNoBlob(repo_, DigestOf(whole_));
}

TEST_F(UploadTest, UploadIdIsNoKeyToAnotherRepository) {
  std::string location = StartUpload(client_, "team-a/app");
  std::string id = location.substr(location.rfind('/') + 1);
  std::string foreign = UploadsPath("team-b/app") + id;
  PushBlob(client_, "team-b/app", "team-b exists");
  EXPECT_TRUE(IsError(client_.Get(foreign), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(PatchRange(foreign, first_, 0), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(Finish(foreign, DigestOf(first_), first_), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(client_.Delete(foreign), 404, "BLOB_UPLOAD_UNKNOWN"));
  ExpectNoBlob("team-b/app", DigestOf(first_));
  // The owner's session was neither fed nor cancelled by those attempts.
  EXPECT_EQ(client_.Get(location).status, 204);
  EXPECT_EQ(Finish(location, DigestOf(whole_), whole_).status, 201);
}

TEST_F(UploadTest, MountFromARepositoryHoldingTheBlob) {
  std::string digest = PushBlob(client_, "source/app", whole_);
  Response r = client_.Post(UploadsPath("target/app") + "?mount=" + digest + "&from=source/app");
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Location"), BlobPath("target/app", digest));
  EXPECT_EQ(r.Header("Docker-Content-Digest"), digest);
  ExpectBlob("target/app", digest, whole_);
}

TEST_F(UploadTest, MountFromARepositoryWithoutTheBlobOpensASession) {
  PushBlob(client_, "source/app", "another blob");
  std::string digest = DigestOf(whole_);
  Response r = client_.Post(UploadsPath("target/app") + "?mount=" + digest + "&from=source/app");
  EXPECT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(r.HasHeader("Location"));
  ExpectNoBlob("target/app", digest);
  EXPECT_EQ(Finish(r.Header("Location"), digest, whole_).status, 201);
  ExpectBlob("target/app", digest, whole_);
}

TEST_F(UploadTest, MountNeedsTheBlobInTheSourceNotJustTheRegistry) {
  std::string digest = PushBlob(client_, "elsewhere/app", whole_);
  PushBlob(client_, "source/app", "another blob");
  Response r = client_.Post(UploadsPath("target/app") + "?mount=" + digest + "&from=source/app");
  EXPECT_EQ(r.status, 202) << r.body;
  ExpectNoBlob("target/app", digest);
}

TEST_F(UploadTest, Sha512DigestIsAccepted) {
  std::string digest = Sha512Of(whole_);
  Response r = client_.Post(UploadsPath(repo_) + "?digest=" + digest, whole_);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), digest);
  ExpectBlob(repo_, digest, whole_);
  EXPECT_EQ(client_.Head(BlobPath(repo_, digest)).Header("Docker-Content-Digest"), digest);
}

TEST_F(UploadTest, EmptyBlobIsStored) {
  std::string location = StartUpload(client_, repo_);
  EXPECT_EQ(Finish(location, DigestOf("")).status, 201);
  ExpectBlob(repo_, DigestOf(""), "");
}

class UploadRestartTest : public UploadTest,
                          public ::testing::WithParamInterface<KeepdProcess::Stop> {};

TEST_P(UploadRestartTest, ChunkedUploadResumesAfterRestart) {
  std::string location = StartUpload(client_, repo_);
  ASSERT_EQ(PatchRange(location, first_, 0).status, 202);
  RestartKeepd(GetParam());
  EXPECT_EQ(client_.Get(location).Header("Range"), "0-9");
  ASSERT_EQ(PatchRange(location, second_, 10).status, 202);
  EXPECT_EQ(Finish(location, DigestOf(whole_)).status, 201);
  ExpectBlob(repo_, DigestOf(whole_), whole_);
}

INSTANTIATE_TEST_SUITE_P(StopModes, UploadRestartTest,
                         ::testing::Values(KeepdProcess::Stop::kGraceful,
                                           KeepdProcess::Stop::kCrash),
                         ::testing::PrintToStringParamName());

}  // namespace
}  // namespace keep::testkit
