// Hostile clients that come in numbers or take their time: slowloris
// (a header trickled a byte at a time), thousands of idle connections,
// bodies longer than their Content-Length, and a publisher reaching for
// blobs of a repository they may not read. Each is refused or dropped,
// changes nothing stored, and everyone else is still served.
#include "tests/support/keepd_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace keep::testkit {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

class CrowdTest : public KeepdTest {
 protected:
  explicit CrowdTest(int header_seconds = 2)
      : KeepdTest({{"timeouts", {{"header_seconds", header_seconds}, {"body_seconds", 2}}}}) {}

  // A plain TCP connection to keepd (no TLS: an idle or hostile socket).
  int Dial() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(keepd_.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // Whether a fresh admin client gets GET /v2/ answered (within its deadline).
  bool AFreshRequestIsServed() {
    HttpsClient fresh = keepd_.AdminClient();
    auto r = fresh.TrySend({http::verb::get, "/v2/"});
    return r && r->status == 200;
  }
};

TEST_F(CrowdTest, SlowlorisIsDroppedAtTheHeaderDeadline) {
  // One byte every 100 ms keeps the connection busy but never finishes a
  // header before its deadline (2 s): the deadline is for the whole header,
  // not for each byte. A server with a deadline per byte reads it all (for
  // 25 s) and answers it; keepd drops the connection before the last byte.
  const std::string head =
      "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(200, 'z') + "\r\n\r\n";
  std::size_t written = 0;
  bool dropped = false;
  for (char c : head) {
    try {
      client_.WriteRaw(std::string_view(&c, 1));
    } catch (const std::exception&) {
      dropped = true;
      break;
    }
    ++written;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(dropped) << "keepd read a header trickled over " << written
                       << " writes to the end without dropping the connection";
  EXPECT_LT(written, head.size());
  EXPECT_TRUE(AFreshRequestIsServed());
}

class IdleCrowdTest : public CrowdTest {
 protected:
  // A header deadline long enough that the idle crowd is still connected
  // when the fresh request is answered, however slowly it was dialled.
  IdleCrowdTest() : CrowdTest(10) {}

  // Whether keepd still holds the connection open (no EOF, no error yet).
  static bool StillOpen(int fd) {
    char b;
    ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // Waits until keepd has closed each of the connections (EOF), at most
  // `deadline` in all (a hang guard); how many it closed. Closes them all.
  static int AwaitClosed(std::vector<int>& fds, std::chrono::seconds deadline) {
    std::vector<pollfd> polled;
    for (int fd : fds) polled.push_back({fd, POLLIN, 0});
    int closed = 0;
    auto until = Clock::now() + deadline;
    while (closed < static_cast<int>(fds.size()) && Clock::now() < until) {
      if (::poll(polled.data(), polled.size(), 200) <= 0) continue;
      for (pollfd& p : polled) {
        if (p.fd < 0 || p.revents == 0) continue;
        char b;
        if (::recv(p.fd, &b, 1, MSG_DONTWAIT) <= 0) {
          ++closed;
          p.fd = -1;  // poll skips it from now on
        }
      }
    }
    for (int fd : fds) ::close(fd);
    fds.clear();
    return closed;
  }
};

TEST_F(IdleCrowdTest, ThousandsOfIdleConnectionsDoNotStopService) {
  constexpr int kIdle = 2000;
  std::vector<int> idle;
  for (int i = 0; i < kIdle; ++i) {
    int fd = Dial();
    if (fd < 0) break;
    idle.push_back(fd);
  }
  ASSERT_GE(idle.size(), static_cast<std::size_t>(kIdle / 2)) << "could not open connections";
  // Everyone else is still served, while the crowd is still there (not
  // once keepd has dropped it): every idle connection is open after.
  ASSERT_TRUE(AFreshRequestIsServed()) << "keepd stopped serving with " << idle.size()
                                       << " idle sockets";
  Manifest m = PushImage(client_, "crowd/app", "v1");
  int open = 0;
  for (int fd : idle) open += StillOpen(fd) ? 1 : 0;
  EXPECT_EQ(open, static_cast<int>(idle.size()))
      << "the crowd was dropped before the others were served";
  // At the header deadline keepd closes every idle connection.
  const int dialled = static_cast<int>(idle.size());
  EXPECT_EQ(AwaitClosed(idle, 60s), dialled) << "idle connections left open";
  EXPECT_EQ(client_.Get(ManifestPath("crowd/app", "v1"), {{"Accept", m.media_type}}).body, m.bytes);
}

TEST_F(CrowdTest, BodyLongerThanContentLengthStoresOnlyWhatWasDeclared) {
  // 11 bytes declared, 11 + a smuggled request sent: the blob is the 11,
  // and what follows is read as a request of its own (and refused), not
  // as part of the blob.
  std::string blob = "exact bytes";
  std::string smuggled = "DELETE /v2/crowd/app/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n";
  Manifest m = PushImage(client_, "crowd/app", "v1");
  HttpsClient raw = keepd_.AnonymousClient();
  raw.SetBasicAuth(kAdminUser, kAdminPassword);
  raw.Write({http::verb::post, UploadsPath("crowd/app") + "?digest=" + DigestOf(blob),
             {{"Content-Length", std::to_string(blob.size())}}, blob + smuggled});
  auto first = raw.ReadResponse();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 201);
  // The trailing bytes are a request without credentials: refused.
  auto second = raw.ReadResponse();
  ASSERT_TRUE(second.has_value()) << "the bytes after the body were not read as a request: "
                                  << raw.last_error();
  EXPECT_EQ(second->status, 401) << second->body;
  EXPECT_EQ(client_.Get(BlobPath("crowd/app", DigestOf(blob))).body, blob);
  EXPECT_EQ(TagsOf(client_, "crowd/app"), std::vector<std::string>{"v1"});
}

TEST_F(CrowdTest, ManifestCannotReferenceBlobsOfAnUnreadableRepository) {
  for (const char* ns : {"acme", "other"}) {
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", json{{"name", ns}}.dump()).status, 201);
  }
  ASSERT_EQ(client_.Post("/admin/v1/users", R"({"name":"bob","password":"password-of-bob"})").status,
            201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/members/bob", R"({"role":"publisher"})").status,
            200);
  // other/secret holds a layer bob may not read; he knows its digest.
  Manifest secret = PushImage(client_, "other/secret", "v1", {.layer = "secret layer"});
  HttpsClient bob = keepd_.AnonymousClient();
  bob.SetBasicAuth("bob", "password-of-bob");
  json body = json::parse(secret.bytes);
  Manifest copy = MakeManifest(secret.media_type, body);
  Response r = PutManifest(bob, "acme/app", "stolen", copy);
  EXPECT_TRUE(IsError(r, 400, "MANIFEST_BLOB_UNKNOWN")) << r.status << " " << r.body;
  // Nor can he fetch the layer through his own repository.
  EXPECT_TRUE(IsError(bob.Get(BlobPath("acme/app", DigestOf("secret layer"))), 404, "BLOB_UNKNOWN"));
  EXPECT_EQ(client_.Get(TagsPath("acme/app")).status, 404);  // acme/app was never created
}

}  // namespace
}  // namespace keep::testkit
