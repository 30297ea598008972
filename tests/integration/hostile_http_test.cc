// Hostile HTTP framing: chunked bodies whose chunk extensions or trailers
// never end, and Transfer-Encoding values that would let a body pass for a
// second request (request smuggling, RFC 9112 §6.3). keepd must refuse them
// with 400, close the connection, hold no more than a bounded buffer for
// them, and keep serving everyone else.
#include "core/base64.h"
#include "tests/support/keepd_test.h"

#include <iostream>
#include <utility>

namespace keep::testkit {
namespace {

class HostileHttpTest : public KeepdTest {
 protected:
  // The status keepd logged for `method path`, once it has (0: not within 10 s).
  int LoggedStatus(std::string_view method, std::string_view path) {
    return keepd_.LoggedRequest(method, path).value("status", 0);
  }

  bool Logged(std::string_view path) {
    for (const auto& line : keepd_.RequestLog()) {
      if (line.value("path", "") == path) return true;
    }
    return false;
  }

  // Writes `piece` until `total` bytes went out or keepd stopped taking them;
  // returns how many bytes the connection accepted.
  std::uint64_t Flood(HttpsClient& client, std::uint64_t total) {
    const std::string piece(64 * 1024, 'e');
    std::uint64_t accepted = 0;
    try {
      while (accepted < total) {
        client.WriteRaw(piece);
        accepted += piece.size();
      }
    } catch (const std::exception&) {
      // keepd closed the connection: what we wanted.
    }
    std::cout << "[ accepted ] " << accepted / 1024 << " KiB of " << total / 1024 << " KiB\n";
    return accepted;
  }

  static std::string Head(std::string_view method, std::string_view target,
                          std::string_view more_fields) {
    return std::string(method) + " " + std::string(target) +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(more_fields) + "\r\n";
  }

  // A request keepd would answer 200, sent as the "body" of another.
  static std::string SmuggledCatalogRequest() {
    return Head("GET", "/v2/_catalog",
                "Authorization: Basic " +
                    EncodeBase64(std::string(kAdminUser) + ":" + kAdminPassword) + "\r\n");
  }
};

// Without credentials: one chunk header whose extension never ends. Past a
// bounded buffer keepd answers 400 and closes; it does not hold what is sent.
TEST_F(HostileHttpTest, EndlessChunkExtensionIsCutOff) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  anonymous.WriteRaw(Head("GET", "/v2/", "Transfer-Encoding: chunked\r\n") + "1;e=");
  constexpr std::uint64_t kTotal = 64 << 20;
  std::uint64_t accepted = Flood(anonymous, kTotal);
  // Socket buffers on loopback hold a few MiB at most; keepd itself
  // reads no more than its header limit and a little.
  EXPECT_LT(accepted, kTotal / 4) << "keepd kept reading the chunk extension";
  EXPECT_EQ(LoggedStatus("GET", "/v2/"), 400);
  EXPECT_TRUE(StillServing());
}

TEST_F(HostileHttpTest, EndlessTrailerIsCutOff) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  anonymous.WriteRaw(Head("GET", "/v2/", "Transfer-Encoding: chunked\r\n") +
                     "1\r\nx\r\n0\r\nX-Trailer: ");
  constexpr std::uint64_t kTotal = 64 << 20;
  std::uint64_t accepted = Flood(anonymous, kTotal);
  EXPECT_LT(accepted, kTotal / 4) << "keepd kept reading the trailer";
  EXPECT_EQ(LoggedStatus("GET", "/v2/"), 400);
  EXPECT_TRUE(StillServing());
}

// Reasonable chunk extensions and trailers still work, on a kept-alive connection.
TEST_F(HostileHttpTest, ShortChunkExtensionsAndTrailersAreFine) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  anonymous.WriteRaw(Head("GET", "/v2/", "Transfer-Encoding: chunked\r\n") +
                     "3;name=value\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n");
  auto r = anonymous.ReadResponse();
  ASSERT_TRUE(r) << anonymous.last_error();
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(r->keep_alive);
}

// RFC 9112 §6.3: a Transfer-Encoding whose final coding is not chunked (or
// that names a coding HTTP does not register) leaves the body's length
// unknown: 400, and the connection closed, so that the "body" is never read
// as a request of its own. §6.1: a registered coding before chunked frames
// the body but keepd cannot decode it: 501, and closed the same way.
TEST_F(HostileHttpTest, TransferEncodingNotEndingInChunkedIsRefused) {
  const std::pair<const char*, int> cases[] = {
      {"chunked, identity", 400}, {"identity", 400},
      {"gzip, chunked", 501},     {"deflate, gzip, chunked", 501},
      {"x-custom, chunked", 400}, {"chunked, chunked", 400},
      {"chunked;q=1", 400},       {"x-custom", 400}};
  for (const auto& [te, status] : cases) {
    SCOPED_TRACE(te);
    HttpsClient raw = keepd_.AnonymousClient();
    raw.WriteRaw(Head("GET", "/v2/", "Transfer-Encoding: " + std::string(te) + "\r\n") +
                 SmuggledCatalogRequest());
    auto first = raw.ReadResponse();
    ASSERT_TRUE(first) << raw.last_error();
    EXPECT_EQ(first->status, status) << first->body;
    EXPECT_FALSE(first->keep_alive);
    auto second = raw.ReadResponse();
    EXPECT_FALSE(second) << "the smuggled request was answered: " << second->status;
  }
  EXPECT_FALSE(Logged("/v2/_catalog")) << "keepd ran a request hidden in a body";
  EXPECT_TRUE(StillServing());
}

// Two Transfer-Encoding fields, or one beside Content-Length, are refused the same way.
TEST_F(HostileHttpTest, ConflictingFramingIsRefused) {
  for (const char* fields : {"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
                             "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                             "Transfer-Encoding: identity\r\nContent-Length: 0\r\n"}) {
    SCOPED_TRACE(fields);
    HttpsClient raw = keepd_.AnonymousClient();
    raw.WriteRaw(Head("GET", "/v2/", fields) + "0\r\n\r\n" + SmuggledCatalogRequest());
    auto first = raw.ReadResponse();
    ASSERT_TRUE(first) << raw.last_error();
    EXPECT_EQ(first->status, 400) << first->body;
    EXPECT_FALSE(first->keep_alive);
    EXPECT_FALSE(raw.ReadResponse()) << "the smuggled request was answered";
  }
  EXPECT_FALSE(Logged("/v2/_catalog")) << "keepd ran a request hidden in a body";
  EXPECT_TRUE(StillServing());
}

// A plain chunked body still frames requests: the next one on the connection is served.
TEST_F(HostileHttpTest, ChunkedAloneStillWorks) {
  HttpsClient raw = keepd_.AnonymousClient();
  raw.WriteRaw(Head("GET", "/v2/", "Transfer-Encoding: Chunked\r\n") + "0\r\n\r\n" +
               SmuggledCatalogRequest());
  auto first = raw.ReadResponse();
  ASSERT_TRUE(first) << raw.last_error();
  EXPECT_EQ(first->status, 401);
  auto second = raw.ReadResponse();
  ASSERT_TRUE(second) << raw.last_error();
  EXPECT_EQ(second->status, 200) << second->body;
}

}  // namespace
}  // namespace keep::testkit
