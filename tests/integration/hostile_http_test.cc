// Hostile HTTP framing: Transfer-Encoding values that would let a body pass
// for a second request (request smuggling, RFC 9112 §6.3). keepd must refuse
// them with 400, close the connection, and keep serving everyone else.
#include "core/base64.h"
#include "tests/support/keepd_test.h"

namespace keep::testkit {
namespace {

class HostileHttpTest : public KeepdTest {
 protected:
  // keepd is alive and a new client gets through.
  ::testing::AssertionResult StillServing() {
    if (!keepd_.running()) return ::testing::AssertionFailure() << "keepd exited";
    HttpsClient fresh = keepd_.AdminClient();
    auto r = fresh.TrySend({http::verb::get, "/v2/"});
    if (!r || r->status != 200) {
      return ::testing::AssertionFailure() << "a new client is not served: " << fresh.last_error();
    }
    return ::testing::AssertionSuccess();
  }

  bool Logged(std::string_view path) {
    for (const auto& line : keepd_.RequestLog()) {
      if (line.value("path", "") == path) return true;
    }
    return false;
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

// RFC 9112 §6.3: a Transfer-Encoding whose final coding is not chunked (or
// that names a coding keepd does not know) leaves the body's length unknown:
// 400, and the connection closed, so that the "body" is never read as a
// request of its own.
TEST_F(HostileHttpTest, TransferEncodingNotEndingInChunkedIsRefused) {
  for (const char* te : {"chunked, identity", "identity", "gzip, chunked", "chunked, chunked",
                         "chunked;q=1", "x-custom"}) {
    SCOPED_TRACE(te);
    HttpsClient raw = keepd_.AnonymousClient();
    raw.WriteRaw(Head("GET", "/v2/", "Transfer-Encoding: " + std::string(te) + "\r\n") +
                 SmuggledCatalogRequest());
    auto first = raw.ReadResponse();
    ASSERT_TRUE(first) << raw.last_error();
    EXPECT_EQ(first->status, 400) << first->body;
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
