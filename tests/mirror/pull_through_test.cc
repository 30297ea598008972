// Pull-through streams a layer to the client while it arrives: a real keepd
// mirrors a hand-written upstream that holds a layer back halfway, and curl
// (a real client) receives the first half before the upstream sends the
// rest; a layer whose bytes do not match their digest is cut short and never
// stored.
#include "tests/mirror/fake_upstream.h"
#include "tests/support/keepd_process.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>

namespace keep::testkit {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Bytes that differ from position to position.
std::string Pattern(std::size_t size, std::uint32_t seed) {
  std::string s(size, '\0');
  std::uint32_t x = seed;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

// A gate the upstream waits at until the test opens it.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    waiting_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, 60s, [&] { return open_; });
  }
  bool WaitUntilSomeoneWaits() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 30s, [&] { return waiting_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool waiting_ = false;
  bool open_ = false;
};

class PullThroughStreamTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kLayerSize = 4 << 20;
  static constexpr std::size_t kHeldBack = 1 << 20;  // sent after the gate opens

  void SetUp() override {
    config_ = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})";
    layer_ = Pattern(kLayerSize, 2463534242u);
    // The tag "bad" names a layer digest its bytes do not have.
    bad_layer_ = Pattern(kLayerSize, 88172645u);
    bad_digest_ = DigestOf(Pattern(kLayerSize, 1u));
    good_ = ManifestOf(DigestOf(layer_));
    bad_ = ManifestOf(bad_digest_);

    HttpsClient admin = keepd_.AdminClient();
    ASSERT_EQ(admin.Post("/admin/v1/namespaces", R"({"name":"mirror"})").status, 201);
    json rule = {{"name", "fake"},
                 {"upstream", upstream_.url()},
                 {"repositories", {"acme/app"}},
                 {"tags", {"v1", "bad"}},
                 {"target", "mirror"},
                 {"reference_host", "keep.example"},
                 {"pull_through", true},
                 {"vetting", {{"trust_on_first_sync", true}}}};
    Response r = admin.Post("/admin/v1/mirrors", rule.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }

  Manifest ManifestOf(const std::string& layer_digest) const {
    json body = {
        {"schemaVersion", 2},
        {"mediaType", mt::kOciManifest},
        {"config",
         {{"mediaType", mt::kOciConfig}, {"digest", DigestOf(config_)}, {"size", config_.size()}}},
        {"layers",
         {{{"mediaType", mt::kOciLayer}, {"digest", layer_digest}, {"size", kLayerSize}}}}};
    return MakeManifest(mt::kOciManifest, body);
  }

  FakeResponse Answer(const FakeRequest& r) {
    const std::string prefix = "/v2/acme/app/";
    auto manifest = [](const Manifest& m) {
      return FakeResponse{
          200, {{"Content-Type", m.media_type}, {"Docker-Content-Digest", m.digest()}}, m.bytes};
    };
    if (r.target == "/v2/") return FakeResponse{200, {}, "{}"};
    if (r.target == prefix + "manifests/v1") return manifest(good_);
    if (r.target == prefix + "manifests/bad") return manifest(bad_);
    if (r.target == prefix + "blobs/" + DigestOf(config_)) return FakeResponse{200, {}, config_};
    for (auto [digest, bytes] :
         {std::pair{DigestOf(layer_), &layer_}, std::pair{bad_digest_, &bad_layer_}}) {
      if (r.target != prefix + "blobs/" + digest) continue;
      if (bytes == &layer_) ++layer_requests_;
      FakeResponse held{200, {}, *bytes};
      held.pause_after = kLayerSize - kHeldBack;
      held.paused = [this] { gate_.Wait(); };
      return held;
    }
    return FakeResponse{404,
                        {{"Content-Type", "application/json"}},
                        R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]})"};
  }

  // curl's exit status, and what it wrote to `out`, fetching `path` as the
  // admin within `seconds`.
  std::pair<int, std::string> Curl(const std::string& path, int seconds) {
    std::filesystem::path out = std::filesystem::temp_directory_path() /
                                ("keep-pull-through-" + std::to_string(::getpid()) + ".out");
    std::string cmd = "curl -sS --cacert '" + keepd_.ca_file() + "' -u " + kAdminUser + ":" +
                      kAdminPassword + " --max-time " + std::to_string(seconds) + " -o '" +
                      out.string() + "' 'https://127.0.0.1:" + std::to_string(keepd_.port()) +
                      path + "' 2>/dev/null";
    int status = std::system(cmd.c_str());
    std::ifstream in(out, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove(out);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, got};
  }

  std::string config_, layer_, bad_layer_, bad_digest_;
  Manifest good_, bad_;
  Gate gate_;
  std::atomic<int> layer_requests_{0};
  FakeUpstream upstream_{[this](const FakeRequest& r) { return Answer(r); }};
  KeepdProcess keepd_;
};

TEST_F(PullThroughStreamTest, TheFirstBytesOfALayerArriveBeforeTheUpstreamSentItAll) {
  HttpsClient admin = keepd_.AdminClient();
  // The manifest is served once it passed vetting, before the layer is here.
  Response m = admin.Get(ManifestPath("mirror/acme/app", "v1"), {{"Accept", mt::kOciManifest}});
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.body, good_.bytes);
  ASSERT_TRUE(gate_.WaitUntilSomeoneWaits()) << "keepd never asked the upstream for the layer";

  // While the upstream holds the rest back, a client receives what came.
  auto [cut, partial] = Curl(BlobPath("mirror/acme/app", DigestOf(layer_)), 3);
  EXPECT_EQ(cut, 28) << "curl should have timed out waiting for the rest";
  // (all that reached keepd, less what its upstream client still buffers)
  EXPECT_GE(partial.size(), std::size_t{1} << 20);
  EXPECT_LE(partial.size(), kLayerSize - kHeldBack);
  EXPECT_TRUE(partial == layer_.substr(0, partial.size()));

  // Once it arrives, a whole pull gets every byte, and the layer is stored.
  auto whole = std::async(std::launch::async,
                          [&] { return Curl(BlobPath("mirror/acme/app", DigestOf(layer_)), 30); });
  std::this_thread::sleep_for(200ms);
  gate_.Open();
  auto [ok, body] = whole.get();
  EXPECT_EQ(ok, 0);
  EXPECT_TRUE(body == layer_) << body.size();
  Response again = admin.Get(BlobPath("mirror/acme/app", DigestOf(layer_)));
  EXPECT_EQ(again.status, 200);
  EXPECT_TRUE(again.body == layer_);
  // Three readers, one fetch from the upstream.
  EXPECT_EQ(layer_requests_.load(), 1);
}

TEST_F(PullThroughStreamTest, ALayerThatDoesNotMatchItsDigestIsCutShortAndNotStored) {
  HttpsClient admin = keepd_.AdminClient();
  Response m = admin.Get(ManifestPath("mirror/acme/app", "bad"), {{"Accept", mt::kOciManifest}});
  ASSERT_EQ(m.status, 200) << m.body;
  ASSERT_TRUE(gate_.WaitUntilSomeoneWaits());
  auto pull = std::async(std::launch::async,
                         [&] { return Curl(BlobPath("mirror/acme/app", bad_digest_), 30); });
  std::this_thread::sleep_for(200ms);
  gate_.Open();
  auto [status, body] = pull.get();
  // Every byte but the last, then the connection closes: the client never
  // holds the whole of a blob that failed its digest.
  EXPECT_NE(status, 0);
  EXPECT_LT(body.size(), kLayerSize);
  EXPECT_EQ(admin.Get(BlobPath("mirror/acme/app", bad_digest_)).status, 404);
  Response tag = admin.Get(ManifestPath("mirror/acme/app", "bad"), {{"Accept", mt::kOciManifest}});
  EXPECT_EQ(tag.status, 403) << tag.body;
  EXPECT_NE(ErrorMessage(tag).find("do not match their digest"), std::string::npos) << tag.body;
}

}  // namespace
}  // namespace keep::testkit
