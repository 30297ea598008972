#include "tests/crash/image_pusher.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace keep::testkit {
namespace {

using nlohmann::json;

constexpr std::size_t kMinLayer = 1 << 10;
constexpr std::size_t kMaxLayer = 200 << 10;

std::string WithDigest(const std::string& location, std::string_view digest) {
  char sep = location.find('?') == std::string::npos ? '?' : '&';
  return location + sep + "digest=" + std::string(digest);
}

std::string Describe(const Request& r) {
  return std::string(http::to_string(r.method)) + " " + r.target;
}

json Descriptor(std::string_view media_type, const AckedBlob& blob) {
  return {{"mediaType", media_type}, {"digest", blob.digest}, {"size", blob.size}};
}

}  // namespace

std::uint64_t TestSeed() {
  const char* fixed = std::getenv("KEEP_TEST_SEED");
  std::uint64_t seed = fixed && *fixed ? std::strtoull(fixed, nullptr, 10) : std::random_device()();
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::cout << "[ seed     ] " << seed << " (KEEP_TEST_SEED=" << seed << " replays it)\n";
  return seed;
}

std::string Randomness::Bytes(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = gen_();
    std::copy_n(reinterpret_cast<const char*>(&v), std::min<std::size_t>(8, n - i), &out[i]);
  }
  return out;
}

std::size_t Randomness::Between(std::size_t lo, std::size_t hi) {
  return std::uniform_int_distribution<std::size_t>(lo, hi)(gen_);
}

ImagePusher::ImagePusher(HttpsClient client, std::uint64_t seed,
                         std::vector<std::string> shared_layers)
    : client_(std::move(client)), random_(seed), shared_layers_(std::move(shared_layers)) {}

std::optional<Response> ImagePusher::Expect(const Request& request, int status) {
  std::optional<Response> r = client_.TrySend(request);
  if (!r) {
    ++transport_failures_;
    last_transport_failure_ = Describe(request) + ": " + client_.last_error();
    return std::nullopt;
  }
  if (r->status != status) {
    unexpected_.push_back({Describe(request), r->status, r->body});
    return std::nullopt;
  }
  return r;
}

bool ImagePusher::PushChunked(std::string_view repo, const std::string& bytes,
                              const std::string& digest) {
  auto started = Expect({http::verb::post, UploadsPath(repo)}, 202);
  if (!started) return false;
  // Open from here until this function returns, however it ends.
  struct OpenSession {
    std::atomic<int>* open;
    explicit OpenSession(std::atomic<int>* o) : open(o) {
      if (open) ++*open;
    }
    ~OpenSession() {
      if (open) --*open;
    }
  } session(open_sessions_);
  std::string location = started->Header("Location");
  // 1-3 chunks; the last one goes with the closing PUT half of the time.
  std::size_t chunks = random_.Between(1, std::min<std::size_t>(3, bytes.size()));
  bool last_in_put = random_.OneIn(2);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < chunks; ++i) {
    bool last = i + 1 == chunks;
    if (last && last_in_put) break;
    // Leave at least a byte for each chunk still to come.
    std::size_t end =
        last ? bytes.size() : random_.Between(offset + 1, bytes.size() - (chunks - i - 1));
    std::string range = std::to_string(offset) + "-" + std::to_string(end - 1);
    Headers headers = {{"Content-Range", range}, {"Content-Type", "application/octet-stream"}};
    auto patched =
        Expect({http::verb::patch, location, headers, bytes.substr(offset, end - offset)}, 202);
    if (!patched) return false;
    location = patched->Header("Location");
    offset = end;
  }
  auto finished = Expect({http::verb::put, WithDigest(location, digest),
                          {{"Content-Type", "application/octet-stream"}}, bytes.substr(offset)},
                         201);
  return finished.has_value();
}

bool ImagePusher::PushBlob(std::string_view repo, const std::string& bytes, bool chunked) {
  std::string digest = DigestOf(bytes);
  bool ok = chunked ? PushChunked(repo, bytes, digest)
                    : Expect({http::verb::post, UploadsPath(repo) + "?digest=" + digest, {}, bytes},
                             201)
                          .has_value();
  if (ok) acked_blobs_.push_back({std::string(repo), digest, bytes.size()});
  return ok;
}

std::optional<AckedImage> ImagePusher::PushRandomImage(const std::string& repo,
                                                       const std::string& tag) {
  std::vector<std::string> layers(random_.Between(1, 3));
  for (auto& layer : layers) {
    layer = !shared_layers_.empty() && random_.OneIn(4)
                ? shared_layers_[random_.Between(0, shared_layers_.size() - 1)]
                : random_.Bytes(random_.Between(kMinLayer, kMaxLayer));
  }
  json diff_ids = json::array();
  for (const auto& layer : layers) diff_ids.push_back(DigestOf(layer));
  json labels = {{"nonce", std::to_string(random_.Between(0, SIZE_MAX))}};
  std::string config = json{{"architecture", "amd64"},
                            {"os", "linux"},
                            {"config", {{"Labels", labels}}},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                           .dump();

  AckedImage image{repo, tag, {}, {}};
  std::vector<const std::string*> blobs{&config};
  for (const auto& layer : layers) blobs.push_back(&layer);
  for (const std::string* blob : blobs) {
    if (!PushBlob(repo, *blob, random_.OneIn(2))) return std::nullopt;
    image.blobs.push_back(acked_blobs_.back());
  }
  json layer_descriptors = json::array();
  for (std::size_t i = 1; i < image.blobs.size(); ++i) {
    layer_descriptors.push_back(Descriptor(mt::kOciLayer, image.blobs[i]));
  }
  image.manifest = MakeManifest(mt::kOciManifest,
                                {{"schemaVersion", 2},
                                 {"mediaType", mt::kOciManifest},
                                 {"config", Descriptor(mt::kOciConfig, image.blobs[0])},
                                 {"layers", layer_descriptors}});
  auto put = Expect({http::verb::put, ManifestPath(repo, tag),
                     {{"Content-Type", image.manifest.media_type}}, image.manifest.bytes},
                    201);
  if (!put) return std::nullopt;
  if (put->Header("Docker-Content-Digest") != image.manifest.digest()) {
    unexpected_.push_back({"PUT " + ManifestPath(repo, tag), put->status,
                           "Docker-Content-Digest: " + put->Header("Docker-Content-Digest")});
  }
  return image;
}

std::string ProblemWithBlob(HttpsClient& client, const AckedBlob& blob) {
  std::string where = blob.repo + "@" + blob.digest + ": ";
  std::optional<Response> r = client.TrySend({http::verb::get, BlobPath(blob.repo, blob.digest)});
  if (!r) return where + "GET failed: " + client.last_error();
  if (r->status != 200) return where + "GET answered " + std::to_string(r->status) + " " + r->body;
  if (r->body.size() != blob.size || DigestOf(r->body) != blob.digest) {
    return where + "GET served " + std::to_string(r->body.size()) + " bytes hashing to " +
           DigestOf(r->body);
  }
  return {};
}

std::vector<std::string> ProblemsWithImage(HttpsClient& client, const AckedImage& image) {
  std::vector<std::string> problems;
  for (const std::string& reference : {image.tag, image.manifest.digest()}) {
    std::string where = image.repo + ":" + reference + ": ";
    Headers accept = {{"Accept", image.manifest.media_type}};
    std::optional<Response> r =
        client.TrySend({http::verb::get, ManifestPath(image.repo, reference), accept});
    if (!r) {
      problems.push_back(where + "GET failed: " + client.last_error());
    } else if (r->status != 200) {
      problems.push_back(where + "GET answered " + std::to_string(r->status) + " " + r->body);
    } else if (r->body != image.manifest.bytes ||
               r->Header("Docker-Content-Digest") != image.manifest.digest()) {
      problems.push_back(where + "GET served other bytes (" + std::to_string(r->body.size()) +
                         ", digest " + DigestOf(r->body) + ") than were pushed as " +
                         image.manifest.digest());
    }
  }
  for (const AckedBlob& blob : image.blobs) {
    if (std::string p = ProblemWithBlob(client, blob); !p.empty()) problems.push_back(p);
  }
  return problems;
}

::testing::AssertionResult HasOciErrorBody(const Response& response) {
  json j = response.Json();
  bool ok = j.is_object() && j.contains("errors") && j["errors"].is_array() &&
            !j["errors"].empty();
  for (const json& e : ok ? j["errors"] : json::array()) {
    ok = ok && e.is_object() && e.contains("code") && e["code"].is_string() &&
         e.contains("message") && e["message"].is_string() && e.contains("detail");
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status " << response.status
                                       << " without the spec's error body: " << response.body;
}

}  // namespace keep::testkit
