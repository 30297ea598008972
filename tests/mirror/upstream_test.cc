// mirror::Upstream against real upstreams: CNCF Distribution over TLS, a
// real keepd with token auth, and (for what no real registry does on
// demand) a hand-written loopback server that plays a hostile upstream.
#include "mirror/upstream.h"

#include "tests/mirror/fake_upstream.h"
#include "tests/support/distribution_process.h"
#include "tests/support/keepd_process.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace keep::mirror {
namespace {

using namespace std::chrono_literals;
using testkit::DistributionProcess;
using testkit::FakeRequest;
using testkit::FakeResponse;
using testkit::FakeUpstream;
using testkit::Manifest;

// Bytes that differ from position to position, so an offset error shows.
std::string Pattern(std::size_t size) {
  std::string s(size, '\0');
  std::uint32_t x = 2463534242u;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

std::unique_ptr<Upstream> OpenOrFail(UpstreamOptions options) {
  auto u = Upstream::Open(std::move(options));
  EXPECT_TRUE(u) << (u ? "" : u.error().message);
  return u ? std::move(*u) : nullptr;
}

// The whole blob (from `offset`) as FetchBlob delivers it.
Result<std::string> Fetch(Upstream& u, std::string_view repo, std::string_view digest,
                          std::uint64_t size, std::uint64_t offset = 0) {
  std::string out;
  KEEP_TRY(u.FetchBlob(repo, Digest::Parse(digest).value(), size, offset,
                       [&](std::string_view chunk) -> Result<void> {
                         out.append(chunk);
                         return {};
                       }));
  return out;
}

std::string Message(const Error& e) { return e.message; }

// ----- CNCF Distribution -----

class DistributionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dist_ = new DistributionProcess();
    testkit::HttpsClient client = dist_->Client();
    config_ = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
    layer_ = new std::string(Pattern(1 << 20 | 12345));
    testkit::UploadBlob(client, kRepo, config_);
    testkit::UploadBlob(client, kRepo, *layer_);
    nlohmann::json body = {{"schemaVersion", 2},
                           {"mediaType", testkit::mt::kOciManifest},
                           {"config",
                            {{"mediaType", testkit::mt::kOciConfig},
                             {"digest", testkit::DigestOf(config_)},
                             {"size", config_.size()}}},
                           {"layers",
                            {{{"mediaType", testkit::mt::kOciLayer},
                              {"digest", testkit::DigestOf(*layer_)},
                              {"size", layer_->size()}}}}};
    manifest_ = new Manifest(testkit::MakeManifest(testkit::mt::kOciManifest, body));
    for (const char* tag : {"3.20", "edge", "latest", "v1"}) {
      testkit::PushManifest(client, kRepo, tag, *manifest_);
    }
  }
  static void TearDownTestSuite() {
    delete dist_;
    delete layer_;
    delete manifest_;
  }

  UpstreamOptions Options() const {
    UpstreamOptions o;
    o.url = dist_->url();
    o.ca_file = dist_->ca_file();
    o.timeout = 10s;
    o.first_backoff = 10ms;
    return o;
  }

  static constexpr const char* kRepo = "library/alpine";
  static inline DistributionProcess* dist_ = nullptr;
  static inline std::string config_;
  static inline std::string* layer_ = nullptr;
  static inline Manifest* manifest_ = nullptr;
};

TEST_F(DistributionTest, ProbeAndManifestByTagAndByDigest) {
  auto u = OpenOrFail(Options());
  ASSERT_TRUE(u);
  EXPECT_EQ(u->url(), dist_->url());
  auto probe = u->Probe();
  EXPECT_TRUE(probe) << (probe ? "" : Message(probe.error()));

  auto by_tag = u->GetManifest(kRepo, "3.20");
  ASSERT_TRUE(by_tag) << Message(by_tag.error());
  EXPECT_EQ(by_tag->bytes, manifest_->bytes);
  EXPECT_EQ(by_tag->digest.str(), manifest_->digest());
  EXPECT_EQ(by_tag->media_type, testkit::mt::kOciManifest);

  auto by_digest = u->GetManifest(kRepo, manifest_->digest());
  ASSERT_TRUE(by_digest) << Message(by_digest.error());
  EXPECT_EQ(by_digest->bytes, manifest_->bytes);
  EXPECT_EQ(by_digest->digest.str(), manifest_->digest());

  auto small = u->GetManifest(kRepo, "3.20", 100);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, ErrorCode::kTooLarge) << Message(small.error());
}

TEST_F(DistributionTest, BlobWholeAndFromAnOffset) {
  auto u = OpenOrFail(Options());
  ASSERT_TRUE(u);
  std::string digest = testkit::DigestOf(*layer_);
  auto whole = Fetch(*u, kRepo, digest, layer_->size());
  ASSERT_TRUE(whole) << Message(whole.error());
  EXPECT_TRUE(*whole == *layer_) << "whole blob: " << whole->size() << " bytes";

  constexpr std::uint64_t kOffset = 300001;
  auto tail = Fetch(*u, kRepo, digest, layer_->size(), kOffset);
  ASSERT_TRUE(tail) << Message(tail.error());
  EXPECT_TRUE(*tail == layer_->substr(kOffset)) << "tail: " << tail->size() << " bytes";

  // A size smaller than the blob's: the extra bytes are refused.
  auto longer = Fetch(*u, kRepo, digest, layer_->size() - 1);
  ASSERT_FALSE(longer);
  EXPECT_EQ(longer.error().code, ErrorCode::kSizeInvalid) << Message(longer.error());

  // The sink's error stops the transfer and comes back as it is.
  auto refused = u->FetchBlob(kRepo, Digest::Parse(digest).value(), layer_->size(), 0,
                              [](std::string_view) -> Result<void> {
                                return Fail(ErrorCode::kInsufficientStorage, "disk full");
                              });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInsufficientStorage);
  EXPECT_EQ(refused.error().message, "disk full");

  auto unknown = Fetch(*u, kRepo, testkit::DigestOf("no such blob"), 12);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kBlobUnknown) << Message(unknown.error());
}

TEST_F(DistributionTest, TagListHasEveryTag) {
  auto u = OpenOrFail(Options());
  ASSERT_TRUE(u);
  auto tags = u->ListTags(kRepo);
  ASSERT_TRUE(tags) << Message(tags.error());
  std::sort(tags->begin(), tags->end());  // Distribution lists them in its own order
  EXPECT_EQ(*tags, (std::vector<std::string>{"3.20", "edge", "latest", "v1"}));
}

TEST_F(DistributionTest, UnknownManifestAndRepository) {
  auto u = OpenOrFail(Options());
  ASSERT_TRUE(u);
  auto tag = u->GetManifest(kRepo, "no-such-tag");
  ASSERT_FALSE(tag);
  EXPECT_EQ(tag.error().code, ErrorCode::kManifestUnknown) << Message(tag.error());
  EXPECT_NE(Message(tag.error()).find(dist_->url()), std::string::npos) << Message(tag.error());

  // Distribution answers MANIFEST_UNKNOWN for a manifest of any unknown
  // repository, NAME_UNKNOWN for its tag list.
  auto repo = u->ListTags("library/nothing-here");
  ASSERT_FALSE(repo);
  EXPECT_EQ(repo.error().code, ErrorCode::kNameUnknown) << Message(repo.error());

  auto bad_name = u->GetManifest("Library/../x", "latest");
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, ErrorCode::kNameInvalid);
}

TEST_F(DistributionTest, WrongCaIsATlsErrorNamingTheUpstream) {
  std::filesystem::path dir = ::testing::TempDir();
  std::string name = "keep-mirror-other-ca-" + std::to_string(::getpid());
  auto cert = dir / (name + ".crt");
  testkit::MakeSelfSignedCertificate(cert, dir / (name + ".key"));
  UpstreamOptions o = Options();
  o.ca_file = cert.string();
  auto u = OpenOrFail(o);
  ASSERT_TRUE(u);
  auto start = std::chrono::steady_clock::now();
  auto probe = u->Probe();
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(Message(probe.error()).find("cannot verify the TLS certificate"), std::string::npos)
      << Message(probe.error());
  EXPECT_NE(Message(probe.error()).find(dist_->url()), std::string::npos);
  // A certificate that fails verification is not worth another try.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  std::filesystem::remove(cert);
  std::filesystem::remove(dir / (name + ".key"));
  std::filesystem::remove(cert.string() + ".openssl.log");
}

// ----- an upstream that is down -----

TEST(UpstreamDownTest, UnavailableAfterTheAttempts) {
  UpstreamOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(testkit::FreeLoopbackPort());
  o.attempts = 3;
  o.first_backoff = 50ms;
  o.timeout = 5s;
  auto u = OpenOrFail(o);
  ASSERT_TRUE(u);
  auto start = std::chrono::steady_clock::now();
  auto m = u->GetManifest("library/alpine", "3.20");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(Message(m.error()), "upstream " + o.url +
                                    ": GET /v2/library/alpine/manifests/3.20 failed after 3 "
                                    "tries: connection refused");
  EXPECT_GE(took, 150ms);  // slept 50 ms, then 100 ms
}

TEST(UpstreamOpenTest, RefusesABadUrl) {
  for (const char* url : {"ftp://host", "https://user:pw@host", "https://host/path", "host:5000",
                          "https://host:70000"}) {
    UpstreamOptions o;
    o.url = url;
    auto u = Upstream::Open(o);
    EXPECT_FALSE(u) << url;
    if (!u) {
      EXPECT_EQ(u.error().message.find("pw@"), std::string::npos);
    }
  }
}

// ----- keepd: token auth -----

class KeepdUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testkit::HttpsClient admin = keepd_.AdminClient();
    image_ = testkit::PushImage(admin, "acme/app", "v1", {.layer = "a layer in keepd"});
  }

  UpstreamOptions Options(std::string user, std::string password) const {
    UpstreamOptions o;
    o.url = "https://127.0.0.1:" + std::to_string(keepd_.port());
    o.ca_file = keepd_.ca_file();
    o.username = std::move(user);
    o.password = std::move(password);
    o.timeout = 10s;
    o.first_backoff = 10ms;
    return o;
  }

  testkit::KeepdProcess keepd_;
  Manifest image_;
};

TEST_F(KeepdUpstreamTest, TokenAuthWithCredentials) {
  auto u = OpenOrFail(Options(testkit::kAdminUser, testkit::kAdminPassword));
  ASSERT_TRUE(u);
  auto probe = u->Probe();
  EXPECT_TRUE(probe) << (probe ? "" : Message(probe.error()));
  auto m = u->GetManifest("acme/app", "v1");
  ASSERT_TRUE(m) << Message(m.error());
  EXPECT_EQ(m->bytes, image_.bytes);
  auto layer = Fetch(*u, "acme/app", testkit::DigestOf("a layer in keepd"), 16);
  ASSERT_TRUE(layer) << Message(layer.error());
  EXPECT_EQ(*layer, "a layer in keepd");
  auto tags = u->ListTags("acme/app");
  ASSERT_TRUE(tags) << Message(tags.error());
  EXPECT_EQ(*tags, std::vector<std::string>{"v1"});
  // keepd offers the referrers API: an empty index.
  auto referrers = u->Referrers("acme/app", Digest::Parse(image_.digest()).value());
  ASSERT_TRUE(referrers) << Message(referrers.error());
  ASSERT_TRUE(referrers->has_value());
  EXPECT_NE((*referrers)->find("manifests"), std::string::npos);

  // One token per repository scope, cached: the token service is asked once.
  int token_requests = 0;
  keepd_.RequestLogWhen([&](const std::vector<nlohmann::json>& log) {
    token_requests = 0;
    for (const auto& line : log) {
      if (line.dump().find("/token") != std::string::npos) ++token_requests;
    }
    return token_requests >= 2;
  });
  EXPECT_EQ(token_requests, 2) << "one for the probe, one for acme/app";
}

TEST_F(KeepdUpstreamTest, WrongCredentialsAreDenied) {
  auto u = OpenOrFail(Options(testkit::kAdminUser, "not-the-password"));
  ASSERT_TRUE(u);
  auto m = u->GetManifest("acme/app", "v1");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ErrorCode::kDenied) << Message(m.error());
  EXPECT_EQ(Message(m.error()).find("not-the-password"), std::string::npos);
  EXPECT_NE(Message(m.error()).find("admin"), std::string::npos) << Message(m.error());
}

TEST_F(KeepdUpstreamTest, AnonymousOnAPrivateRepositoryIsDenied) {
  auto u = OpenOrFail(Options("", ""));
  ASSERT_TRUE(u);
  auto m = u->GetManifest("acme/app", "v1");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ErrorCode::kDenied) << Message(m.error());
  EXPECT_NE(Message(m.error()).find("username and password"), std::string::npos)
      << Message(m.error());
}

// ----- a hostile upstream -----

UpstreamOptions FakeOptions(const FakeUpstream& fake) {
  UpstreamOptions o;
  o.url = fake.url();
  o.timeout = 5s;
  o.first_backoff = 10ms;
  return o;
}

FakeResponse Json(int status, std::string body) {
  return FakeResponse{status, {{"Content-Type", "application/json"}}, std::move(body), {}};
}

TEST(FakeUpstreamTest, ManifestBytesThatDoNotMatchTheirDigest) {
  std::string real = R"({"schemaVersion":2})";
  std::string real_digest = testkit::DigestOf(real);
  FakeUpstream fake([&](const FakeRequest& r) {
    FakeResponse out{200, {{"Content-Type", testkit::mt::kOciManifest}}, "{\"evil\":true}", {}};
    if (r.target.ends_with("/manifests/tagged")) {
      out.headers.emplace_back("Docker-Content-Digest", real_digest);
    }
    return out;
  });
  auto u = OpenOrFail(FakeOptions(fake));
  ASSERT_TRUE(u);
  auto by_digest = u->GetManifest("acme/app", real_digest);
  ASSERT_FALSE(by_digest);
  EXPECT_EQ(by_digest.error().code, ErrorCode::kDigestInvalid);
  EXPECT_NE(Message(by_digest.error()).find(real_digest), std::string::npos);
  EXPECT_NE(Message(by_digest.error()).find(testkit::DigestOf("{\"evil\":true}")),
            std::string::npos)
      << Message(by_digest.error());

  auto by_tag = u->GetManifest("acme/app", "tagged");
  ASSERT_FALSE(by_tag);
  EXPECT_EQ(by_tag.error().code, ErrorCode::kDigestInvalid) << Message(by_tag.error());

  // Without the header, a tag's bytes are taken as they come.
  auto plain = u->GetManifest("acme/app", "other");
  ASSERT_TRUE(plain) << Message(plain.error());
  EXPECT_EQ(plain->digest.str(), testkit::DigestOf("{\"evil\":true}"));
}

TEST(FakeUpstreamTest, RetryAfterIsHonouredThenTheAnswerComes) {
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"})";
  int calls = 0;
  FakeUpstream fake([&](const FakeRequest&) {
    if (++calls == 1) return FakeResponse{503, {{"Retry-After", "1"}}, "busy", {}};
    return FakeResponse{200, {{"Content-Type", testkit::mt::kOciIndex}}, manifest, {}};
  });
  auto u = OpenOrFail(FakeOptions(fake));
  ASSERT_TRUE(u);
  auto start = std::chrono::steady_clock::now();
  auto m = u->GetManifest("acme/app", "v1");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(m) << Message(m.error());
  EXPECT_EQ(m->bytes, manifest);
  EXPECT_EQ(m->media_type, testkit::mt::kOciIndex);
  EXPECT_EQ(calls, 2);
  EXPECT_GE(took, 900ms) << "Retry-After: 1 was not waited for";
  EXPECT_LT(took, 5s);
}

TEST(FakeUpstreamTest, ClientErrorsAreNotRetried) {
  FakeUpstream fake([](const FakeRequest&) {
    return Json(400, R"({"errors":[{"code":"MANIFEST_INVALID","message":"no"}]})");
  });
  auto u = OpenOrFail(FakeOptions(fake));
  ASSERT_TRUE(u);
  auto m = u->GetManifest("acme/app", "v1");
  ASSERT_FALSE(m);
  EXPECT_EQ(fake.requests(), 1);
  EXPECT_NE(Message(m.error()).find("MANIFEST_INVALID"), std::string::npos) << Message(m.error());
}

TEST(FakeUpstreamTest, TagPagesFollowTheLinkHeader) {
  FakeUpstream fake([](const FakeRequest& r) {
    if (r.target == "/v2/acme/app/tags/list?n=1000") {
      FakeResponse out = Json(200, R"({"name":"acme/app","tags":["a","b"]})");
      out.headers.emplace_back("Link", R"(</v2/acme/app/tags/list?last=b&n=2>; rel="next")");
      return out;
    }
    if (r.target == "/v2/acme/app/tags/list?last=b&n=2") {
      FakeResponse out = Json(200, R"({"name":"acme/app","tags":["c","d"]})");
      out.headers.emplace_back("Link", R"(<list?last=d&n=2>; rel="next")");
      return out;
    }
    if (r.target == "/v2/acme/app/tags/list?last=d&n=2") {
      return Json(200, R"({"name":"acme/app","tags":["e"]})");
    }
    return Json(404, R"({"errors":[{"code":"NAME_UNKNOWN","message":"?"}]})");
  });
  auto u = OpenOrFail(FakeOptions(fake));
  ASSERT_TRUE(u);
  auto tags = u->ListTags("acme/app");
  ASSERT_TRUE(tags) << Message(tags.error());
  EXPECT_EQ(*tags, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(fake.requests(), 3);
}

TEST(FakeUpstreamTest, BasicAuthAndARedirectedBlobWithoutTheUpstreamsAuthorization) {
  std::string blob = Pattern(700000);
  std::string digest = testkit::DigestOf(blob);
  std::string storage_authorization = "unset";
  FakeUpstream storage([&](const FakeRequest& r) {
    storage_authorization = r.Header("Authorization");
    return FakeResponse{200, {}, blob, {}};
  });
  FakeUpstream registry([&](const FakeRequest& r) {
    if (r.Header("Authorization").empty()) {
      return FakeResponse{
          401, {{"WWW-Authenticate", R"(Basic realm="a, \"quoted\" realm")"}}, "", {}};
    }
    if (r.Header("Authorization") != "Basic " + std::string("dXNlcjpzM2NyZXQ=")) {
      return FakeResponse{401, {{"WWW-Authenticate", R"(Basic realm="x")"}}, "", {}};
    }
    return FakeResponse{
        307, {{"Location", storage.url() + "/bucket/" + digest + "?sig=1"}}, "", {}};
  });
  UpstreamOptions o = FakeOptions(registry);
  o.username = "user";
  o.password = "s3cret";
  auto u = OpenOrFail(o);
  ASSERT_TRUE(u);
  auto got = Fetch(*u, "acme/app", digest, blob.size());
  ASSERT_TRUE(got) << Message(got.error());
  EXPECT_TRUE(*got == blob);
  EXPECT_EQ(storage_authorization, "");

  o.password = "wrong";
  auto wrong = OpenOrFail(o);
  ASSERT_TRUE(wrong);
  auto denied = Fetch(*wrong, "acme/app", digest, blob.size());
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::kDenied) << Message(denied.error());

  auto anonymous = OpenOrFail(FakeOptions(registry));
  ASSERT_TRUE(anonymous);
  auto asks = anonymous->Probe();
  ASSERT_FALSE(asks);
  EXPECT_EQ(asks.error().code, ErrorCode::kDenied);
  EXPECT_NE(Message(asks.error()).find("asks for credentials"), std::string::npos)
      << Message(asks.error());
}

TEST(FakeUpstreamTest, ACutTransferSaysHowManyBytesArrived) {
  std::string blob = Pattern(600000);
  FakeUpstream fake([&](const FakeRequest&) { return FakeResponse{200, {}, blob, 250000}; });
  auto u = OpenOrFail(FakeOptions(fake));
  ASSERT_TRUE(u);
  std::string got;
  auto r = u->FetchBlob("acme/app", Digest::Parse(testkit::DigestOf(blob)).value(), blob.size(), 0,
                        [&](std::string_view chunk) -> Result<void> {
                          got.append(chunk);
                          return {};
                        });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(got, blob.substr(0, 250000));
  EXPECT_NE(Message(r.error()).find("after 250000 bytes"), std::string::npos) << Message(r.error());
  EXPECT_EQ(fake.requests(), 1) << "a partly delivered blob is resumed by the caller";

  // The caller resumes from where it stopped; this upstream ignores Range.
  FakeUpstream whole([&](const FakeRequest& r) {
    EXPECT_EQ(r.Header("Range"), "bytes=250000-");
    return FakeResponse{200, {}, blob, {}};
  });
  auto v = OpenOrFail(FakeOptions(whole));
  ASSERT_TRUE(v);
  auto tail = Fetch(*v, "acme/app", testkit::DigestOf(blob), blob.size(), 250000);
  ASSERT_TRUE(tail) << Message(tail.error());
  EXPECT_TRUE(*tail == blob.substr(250000));
}

TEST(FakeUpstreamTest, AtMostTheConnectionsAskedForAndThoseKeptAlive) {
  std::string manifest = R"({"schemaVersion":2})";
  FakeUpstream fake([&](const FakeRequest&) {
    return FakeResponse{200, {{"Content-Type", testkit::mt::kOciManifest}}, manifest, {}, 100ms};
  });
  UpstreamOptions o = FakeOptions(fake);
  o.connections = 2;
  auto u = OpenOrFail(o);
  ASSERT_TRUE(u);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] { ok += u->GetManifest("acme/app", "v1") ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(fake.requests(), 6);
  EXPECT_EQ(fake.max_concurrent(), 2);
  EXPECT_EQ(fake.connections(), 2) << "idle connections are reused";
}

TEST(FakeUpstreamTest, ReferrersNotOffered) {
  FakeUpstream fake([](const FakeRequest&) { return Json(404, R"({"errors":[]})"); });
  auto u = OpenOrFail(FakeOptions(fake));
  ASSERT_TRUE(u);
  auto r = u->Referrers("acme/app", Digest::Parse(testkit::DigestOf("x")).value());
  ASSERT_TRUE(r) << Message(r.error());
  EXPECT_FALSE(r->has_value());
}

}  // namespace
}  // namespace keep::mirror
