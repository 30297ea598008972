// Plain HTTP on the TLS port (`curl http://...`): keepd answers with a plain
// 400 that says to use https:// and closes, instead of a TLS alert the
// client shows as garbage. The handshake deadline still bounds a client that
// sends too little.
#include "tests/support/keepd_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace keep::testkit {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A plain TCP connection to keepd's port.
class PlainSocket {
 public:
  explicit PlainSocket(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~PlainSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  PlainSocket(const PlainSocket&) = delete;
  PlainSocket& operator=(const PlainSocket&) = delete;

  bool connected() const { return connected_; }
  bool Send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  struct Received {
    std::string bytes;
    bool closed = false;  // keepd closed its side (EOF or reset)
  };
  // Everything keepd sends until it closes, or until `limit` passes.
  Received ReadUntilClosed(std::chrono::milliseconds limit) {
    Received r;
    auto until = Clock::now() + limit;
    while (Clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        r.closed = true;
        break;
      }
      r.bytes.append(buf, static_cast<std::size_t>(n));
    }
    return r;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class PlainHttpTest : public KeepdTest {
 protected:
  PlainHttpTest() : KeepdTest({{"timeouts", {{"header_seconds", 2}}}}) {}
};

TEST_F(PlainHttpTest, PlainRequestGetsA400SayingToUseHttps) {
  PlainSocket s(keepd_.port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto start = Clock::now();
  auto got = s.ReadUntilClosed(10s);
  EXPECT_TRUE(got.closed) << "the connection stayed open";
  // At once, not at the header deadline (2 s).
  EXPECT_LT(Clock::now() - start, 1500ms);
  const std::string& a = got.bytes;
  EXPECT_EQ(a.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << a;
  auto head_end = a.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << a;
  std::string head = a.substr(0, head_end + 2);
  std::string body = a.substr(head_end + 4);
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Type: text/plain"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Content-Type-Options: nosniff\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nServer:"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos)
      << head;
  EXPECT_NE(body.find("HTTPS"), std::string::npos) << body;
  EXPECT_NE(body.find("https://"), std::string::npos) << body;
  EXPECT_TRUE(StillServing());
}

// A request with a body still in flight, and one cut off after a few bytes:
// each gets the answer whole.
TEST_F(PlainHttpTest, PartialAndLongerRequestsGetTheAnswerToo) {
  {
    PlainSocket s(keepd_.port());
    ASSERT_TRUE(s.connected());
    ASSERT_TRUE(s.Send("PUT /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" +
                       std::string(20000, 'm')));
    auto got = s.ReadUntilClosed(10s);
    EXPECT_TRUE(got.closed);
    EXPECT_EQ(got.bytes.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << got.bytes;
  }
  {
    PlainSocket s(keepd_.port());
    ASSERT_TRUE(s.connected());
    ASSERT_TRUE(s.Send("GE"));
    auto got = s.ReadUntilClosed(10s);
    EXPECT_EQ(got.bytes.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << got.bytes;
    EXPECT_TRUE(got.closed);
  }
  EXPECT_TRUE(StillServing());
}

// The first byte of a TLS handshake record, then nothing: the handshake
// deadline (2 s) still closes the connection.
TEST_F(PlainHttpTest, AStalledHandshakeIsDroppedAtTheDeadline) {
  PlainSocket s(keepd_.port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("\x16"));
  auto start = Clock::now();
  auto got = s.ReadUntilClosed(10s);
  auto waited = Clock::now() - start;
  EXPECT_TRUE(got.closed) << "keepd held a stalled handshake open";
  EXPECT_GE(waited, 1500ms);
  EXPECT_LT(waited, 6s);
  EXPECT_EQ(got.bytes.find("HTTP/"), std::string::npos) << got.bytes;
  EXPECT_TRUE(StillServing());
}

}  // namespace
}  // namespace keep::testkit
