// Hostile and broken clients: oversized headers, garbage, bodies cut short,
// and clients that stall. The server must refuse them, store nothing, and
// keep serving everyone else.
#include "tests/support/keepd_test.h"

namespace keep::testkit {
namespace {

class HostileTest : public KeepdTest {
 protected:
  using KeepdTest::KeepdTest;

  // Waits until keepd has logged `method path`, i.e. finished with it.
  void AwaitLogged(std::string_view method, std::string_view path) {
    if (keepd_.LoggedRequest(method, path).is_null()) {
      ADD_FAILURE() << "keepd never logged " << method << " " << path;
    }
  }

  // Sends the head of a `method target` announcing `blob` but only half of it, then dies.
  void SendHalfAndDisconnect(http::verb method, const std::string& target, const std::string& blob) {
    HttpsClient dying = keepd_.AdminClient();
    dying.Write({method, target, {{"Content-Length", std::to_string(blob.size())}},
                 blob.substr(0, blob.size() / 2)});
    dying.Disconnect();
  }

  const std::string repo_ = "library/hostile";
  const std::string blob_ = std::string(300 * 1024, 'b') + "end";
};

// Past limits.max_header_bytes (16 KiB) the answer is 431, which the client
// must receive: a connection merely closed is not an answer.
TEST_F(HostileTest, OversizedHeaderIsRefused) {
  auto r = client_.TrySend({http::verb::get, "/v2/", {{"X-Padding", std::string(20 * 1024, 'p')}}});
  ASSERT_TRUE(r.has_value()) << "no answer, the connection was closed: " << client_.last_error();
  EXPECT_TRUE(IsError(*r, 431, "UNKNOWN")) << r->status << " " << r->body;
  EXPECT_TRUE(StillServing());
}

TEST_F(HostileTest, ManyOversizedHeadersAreRefused) {
  Headers many;
  for (int i = 0; i < 400; ++i) many.emplace_back("X-H" + std::to_string(i), std::string(50, 'v'));
  auto r = client_.TrySend({http::verb::get, "/v2/", many});
  ASSERT_TRUE(r.has_value()) << "no answer, the connection was closed: " << client_.last_error();
  EXPECT_TRUE(IsError(*r, 431, "UNKNOWN")) << r->status << " " << r->body;
  EXPECT_TRUE(StillServing());
}

// A server that refuses a body without reading it must close the connection;
// answering keep-alive promises that the next request on it will be read.
TEST_F(HostileTest, RefusedOversizedBodyKeepsTheConnectionInStep) {
  Manifest m = PrepareImage(client_, repo_);
  m.bytes.append(5 * 1024 * 1024, ' ');  // trailing whitespace: still the same JSON
  int connections = client_.connections_opened();
  Response r = PutManifest(client_, repo_, "v1", m);
  EXPECT_TRUE(IsError(r, 413, "SIZE_INVALID"));
  if (r.keep_alive) {
    auto next = client_.TrySend({http::verb::get, "/v2/"});
    EXPECT_TRUE(next && next->status == 200)
        << "the request after the 413 was not served: "
        << (next ? std::to_string(next->status) + " " + next->body : client_.last_error());
    EXPECT_EQ(client_.connections_opened(), connections)
        << "keepd answered keep-alive but stopped reading the connection";
  }
  EXPECT_TRUE(StillServing());
}

TEST_F(HostileTest, GarbageInsteadOfARequest) {
  client_.WriteRaw("\x16\x03\x01 this is not HTTP at all\r\n\r\n");
  auto r = client_.ReadResponse();
  ASSERT_TRUE(r.has_value()) << "no answer, the connection was closed: " << client_.last_error();
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(StillServing());
}

TEST_F(HostileTest, MonolithicUploadCutShortIsNotStored) {
  std::string target = UploadsPath(repo_) + "?digest=" + DigestOf(blob_);
  SendHalfAndDisconnect(http::verb::post, target, blob_);
  AwaitLogged("POST", UploadsPath(repo_));
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, DigestOf(blob_))), 404, "BLOB_UNKNOWN"));
  EXPECT_TRUE(StillServing());
}

TEST_F(HostileTest, FinishingPutCutShortIsNotStored) {
  std::string location = StartUpload(client_, repo_);
  SendHalfAndDisconnect(http::verb::put, location + "?digest=" + DigestOf(blob_), blob_);
  AwaitLogged("PUT", location);
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, DigestOf(blob_))), 404, "BLOB_UNKNOWN"));
  EXPECT_TRUE(StillServing());
}

TEST_F(HostileTest, ManifestCutShortIsNotStored) {
  Manifest m = PrepareImage(client_, repo_);
  SendHalfAndDisconnect(http::verb::put, ManifestPath(repo_, "v1"), m.bytes);
  AwaitLogged("PUT", ManifestPath(repo_, "v1"));
  EXPECT_TRUE(IsError(client_.Get(ManifestPath(repo_, "v1")), 404, "MANIFEST_UNKNOWN"));
  EXPECT_TRUE(StillServing());
}

// With one-second deadlines, a client that stalls is dropped by the server.
class StallingClientTest : public HostileTest {
 protected:
  StallingClientTest() : HostileTest({{"timeouts", {{"header_seconds", 1}, {"body_seconds", 1}}}}) {}

  // The server ends the exchange (an answer or a close), not our own 30 s
  // deadline: what ended it is an event, whatever the time it took.
  void ExpectDroppedQuickly(HttpsClient& client) {
    auto r = client.ReadResponse();
    if (r) {
      EXPECT_FALSE(r->keep_alive) << "answered " << r->status << " but kept the connection";
    } else {
      EXPECT_EQ(client.last_error().find("timeout"), std::string::npos)
          << "the stalled connection was kept open until the client gave up: "
          << client.last_error();
    }
  }
};

TEST_F(StallingClientTest, HalfAHeaderIsDropped) {
  client_.WriteRaw("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  ExpectDroppedQuickly(client_);
  EXPECT_TRUE(StillServing());
}

TEST_F(StallingClientTest, StalledBodyIsDroppedAndNotStored) {
  std::string target = UploadsPath(repo_) + "?digest=" + DigestOf(blob_);
  client_.Write({http::verb::post, target, {{"Content-Length", std::to_string(blob_.size())}},
                 blob_.substr(0, 1000)});
  ExpectDroppedQuickly(client_);
  EXPECT_TRUE(IsError(client_.Get(BlobPath(repo_, DigestOf(blob_))), 404, "BLOB_UNKNOWN"));
  EXPECT_TRUE(StillServing());
}

}  // namespace
}  // namespace keep::testkit
