// A keepd with TLS off (tls.enabled false): a replica behind a load
// balancer that terminates TLS. The whole API works over plain HTTP, blobs
// go out with sendfile(2) byte for byte (ranges too), and the token realm
// says http:// unless a trusted proxy says how its client came. Forwarded
// headers are believed from the proxies of proxies.trusted alone: from
// anyone else they change nothing, not the address the limits count nor
// the realm clients are sent to.
#include "tests/support/keepd_test.h"

#include <chrono>
#include <random>

namespace keep::testkit {
namespace {

using nlohmann::json;

std::string RandomBytes(std::size_t n) {
  std::mt19937_64 rng(n);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// The realm of a Bearer challenge ("" when there is none).
std::string RealmOf(const Response& r) {
  std::string c = r.Header("WWW-Authenticate");
  auto at = c.find("realm=\"");
  if (at == std::string::npos) return "";
  at += 7;
  return c.substr(at, c.find('"', at) - at);
}

// The "remote" of the nth request logged for `path` (from 1). keepd writes
// a request's line once the answer is sent: it is waited for.
std::string LoggedRemote(const KeepdProcess& keepd, std::string_view path, std::size_t nth) {
  auto line = keepd.LoggedRequest("", path, nth, std::chrono::seconds(5));
  if (line.is_null()) return "(no line " + std::to_string(nth) + " for " + std::string(path) + ")";
  return line.value("remote", "");
}

class PlainListenerTest : public KeepdTest {
 protected:
  PlainListenerTest() : KeepdTest(json{{"tls", {{"enabled", false}}}}) {}
};

TEST_F(PlainListenerTest, BlobsAndManifestsGoBothWaysByteForByte) {
  ASSERT_TRUE(keepd_.plain());
  EXPECT_NE(keepd_.Messages().find("listening on http://127.0.0.1:"), std::string::npos)
      << keepd_.Messages();
  EXPECT_FALSE(std::filesystem::exists(keepd_.ca_file())) << "no certificate is made";

  // 3 MiB and a bit: more than a socket buffer, so sendfile has to wait for room.
  const std::string layer = RandomBytes((3 << 20) + 12345);
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = layer});
  Response blob = client_.Get(BlobPath("acme/app", DigestOf(layer)));
  ASSERT_EQ(blob.status, 200);
  EXPECT_EQ(blob.body.size(), layer.size());
  EXPECT_TRUE(blob.body == layer) << "the blob came back different";
  EXPECT_EQ(blob.Header("Docker-Content-Digest"), DigestOf(layer));

  Response part =
      client_.Get(BlobPath("acme/app", DigestOf(layer)), {{"Range", "bytes=1000000-1000099"}});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.body, layer.substr(1000000, 100));
  Response tail = client_.Get(BlobPath("acme/app", DigestOf(layer)), {{"Range", "bytes=-10"}});
  ASSERT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, layer.substr(layer.size() - 10));

  Response head = client_.Head(BlobPath("acme/app", DigestOf(layer)));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(layer.size()));

  Response manifest = client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", m.media_type}});
  ASSERT_EQ(manifest.status, 200);
  EXPECT_EQ(manifest.body, m.bytes);

  // The connection was kept across all of it, sendfile included.
  EXPECT_EQ(client_.connections_opened(), 1);
  EXPECT_TRUE(StillServing());
}

// A chunked upload and a blob cut short by a client that goes away: keepd
// goes on serving (a write to a closed socket fails, it does not kill it).
TEST_F(PlainListenerTest, AClientThatLeavesMidBlobHurtsNoOne) {
  const std::string layer = RandomBytes(8 << 20);
  std::string location = StartUpload(client_, "acme/app");
  Response patched =
      client_.Send({http::verb::patch, location, {}, layer.substr(0, 5 << 20), true});
  ASSERT_EQ(patched.status, 202) << patched.body;
  std::string next = patched.Header("Location");
  Response put = client_.Send(
      {http::verb::put,
       next + (next.find('?') == std::string::npos ? "?" : "&") + "digest=" + DigestOf(layer),
       {},
       layer.substr(5 << 20)});
  ASSERT_EQ(put.status, 201) << put.body;

  for (int i = 0; i < 3; ++i) {
    HttpsClient leaver = keepd_.AdminClient();
    leaver.Write({http::verb::get, BlobPath("acme/app", DigestOf(layer))});
    leaver.Disconnect();
  }
  Response whole = client_.Get(BlobPath("acme/app", DigestOf(layer)));
  ASSERT_EQ(whole.status, 200);
  EXPECT_TRUE(whole.body == layer);
  EXPECT_TRUE(StillServing());
}

// Clients are sent to the token service the way they came: http:// here.
TEST_F(PlainListenerTest, TheTokenFlowWorksAndItsRealmIsPlainHttp) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response challenge = anonymous.Get("/v2/");
  ASSERT_EQ(challenge.status, 401);
  EXPECT_EQ(RealmOf(challenge), "http://127.0.0.1:" + std::to_string(keepd_.port()) + "/token");

  Response token = client_.Get("/token?service=keep&scope=repository:acme/app:push,pull");
  ASSERT_EQ(token.status, 200) << token.body;
  std::string bearer = token.Json().value("token", "");
  ASSERT_FALSE(bearer.empty());
  HttpsClient with_token = keepd_.AnonymousClient();
  Response v2 = with_token.Get("/v2/", {{"Authorization", "Bearer " + bearer}});
  EXPECT_EQ(v2.status, 200);

  // Headers a client sends about itself count for nothing: no proxy is trusted.
  Response spoofed = anonymous.Get("/v2/", {{"X-Forwarded-Proto", "https"},
                                            {"X-Forwarded-Host", "evil.example"},
                                            {"X-Forwarded-For", "203.0.113.66"}});
  EXPECT_EQ(RealmOf(spoofed), "http://127.0.0.1:" + std::to_string(keepd_.port()) + "/token");
  EXPECT_EQ(LoggedRemote(keepd_, "/v2/", 3), "127.0.0.1");
}

// A TLS client that reaches the plain port gets no answer it could take for
// one, and keepd is unharmed.
TEST_F(PlainListenerTest, ATlsClientIsNotServed) {
  HttpsClient https(keepd_.port(), "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_FALSE(https.TrySend({http::verb::get, "/v2/"}));
  EXPECT_TRUE(StillServing());
}

// The load balancer at 127.0.0.5 is trusted; everyone else is a client.
class TrustedProxyTest : public KeepdTest {
 protected:
  TrustedProxyTest()
      : KeepdTest(json{{"tls", {{"enabled", false}}},
                       {"proxies", {{"trusted", {"127.0.0.5"}}}},
                       {"limits",
                        {{"address_requests_per_second", 1},
                         {"request_burst", 4},
                         {"user_requests_per_second", 0}}}}) {}

  HttpsClient Proxy() {
    HttpsClient c = keepd_.AnonymousClient();
    c.SetSourceAddress("127.0.0.5");
    return c;
  }
};

TEST_F(TrustedProxyTest, TheProxysClientIsTheClient) {
  HttpsClient proxy = Proxy();
  Response r = proxy.Get("/v2/", {{"X-Forwarded-For", "198.51.100.1, 203.0.113.7"},
                                  {"X-Forwarded-Proto", "https"},
                                  {"X-Forwarded-Host", "registry.example.org"}});
  ASSERT_EQ(r.status, 401);
  EXPECT_EQ(RealmOf(r), "https://registry.example.org/token");
  EXPECT_EQ(LoggedRemote(keepd_, "/v2/", 1), "203.0.113.7");

  // The same words from a host that is not the proxy change nothing.
  HttpsClient other = keepd_.AnonymousClient();
  other.SetSourceAddress("127.0.0.6");
  r = other.Get("/v2/", {{"X-Forwarded-For", "203.0.113.7"},
                         {"X-Forwarded-Proto", "https"},
                         {"X-Forwarded-Host", "registry.example.org"}});
  EXPECT_EQ(RealmOf(r), "http://127.0.0.1:" + std::to_string(keepd_.port()) + "/token");
  EXPECT_EQ(LoggedRemote(keepd_, "/v2/", 2), "127.0.0.6");
  // A host it does not make up is not echoed back either.
  r = proxy.Get("/v2/", {{"X-Forwarded-Host", "evil\".example"}});
  EXPECT_EQ(RealmOf(r), "http://localhost/token");
}

// Limits count the address the proxy names, so that one client behind the
// load balancer cannot use up everyone's allowance; a client that names
// addresses of its own is counted by its own.
TEST_F(TrustedProxyTest, LimitsCountTheForwardedClient) {
  HttpsClient proxy = Proxy();
  auto from = [&](const char* client) {
    return proxy.Get("/v2/", {{"X-Forwarded-For", client}}).status;
  };
  int served = 0;
  while (served < 20 && from("203.0.113.7") == 401) ++served;
  EXPECT_LE(served, 4);
  EXPECT_EQ(from("203.0.113.7"), 429);
  EXPECT_EQ(from("203.0.113.8"), 401) << "another client behind the proxy is served";

  HttpsClient liar = keepd_.AnonymousClient();
  liar.SetSourceAddress("127.0.0.9");
  int lies = 0;
  for (int i = 0; i < 10; ++i) {
    std::string made_up = "198.51.100." + std::to_string(i);
    if (liar.Get("/v2/", {{"X-Forwarded-For", made_up}}).status == 401) ++lies;
  }
  EXPECT_LE(lies, 4) << "a client rotating X-Forwarded-For is counted by its own address";
}

// Behind a load balancer that re-encrypts, the TLS listener takes the
// proxy's word the same way.
class TrustedProxyOverTlsTest : public KeepdTest {
 protected:
  TrustedProxyOverTlsTest() : KeepdTest(json{{"proxies", {{"trusted", {"127.0.0.5"}}}}}) {}
};

TEST_F(TrustedProxyOverTlsTest, TheRealmIsTheProxys) {
  HttpsClient proxy = keepd_.AnonymousClient();
  proxy.SetSourceAddress("127.0.0.5");
  Response r = proxy.Get("/v2/", {{"X-Forwarded-Host", "registry.example.org:8443"}});
  EXPECT_EQ(RealmOf(r), "https://registry.example.org:8443/token");
  EXPECT_EQ(RealmOf(keepd_.AnonymousClient().Get("/v2/")),
            "https://127.0.0.1:" + std::to_string(keepd_.port()) + "/token");
}

}  // namespace
}  // namespace keep::testkit
