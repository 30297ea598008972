// Garbage collection racing pushes. Pushers upload blobs (single POSTs and
// sessions), mount blobs across repositories, push manifests by tag and by
// digest, push referrers, tag manifests GC is collecting, delete tags and
// pull what they pushed, while GC with no grace period runs in a loop
// through the admin API. A push may be refused when GC took a blob it meant
// to use (MANIFEST_BLOB_UNKNOWN: push the blob again), but whatever the
// registry acknowledged and is still tagged (or is a referrer of something
// tagged) must pull intact, during the race and after it, and the store
// must be clean at the end.
//
// keepd-test (keepd built with its test hooks) runs with
// KEEPD_TEST_LINK_PAUSE_MS, a pause between making sure of a blob and
// linking it (storage/links.cc): without the locks that close that window,
// this test fails.
//
// KEEP_TEST_SEED=<n> replays a run's random choices (not its timing).
#include "tests/crash/image_pusher.h"
#include "tests/crash/inspect.h"
#include "tests/support/keepd_process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

namespace keep::testkit {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPushers = 4;
constexpr int kRepos = 3;
constexpr int kSharedLayers = 3;
// The race goes on at least this long, and until every count below is
// reached; past the deadline (a hang guard) it stops and the test fails.
constexpr auto kMinRaceTime = 12s;
constexpr auto kRaceDeadline = 150s;
constexpr int kMinGcRuns = 10;
constexpr int kMinAcknowledged = 20;
constexpr int kMinClockRaces = 8;
constexpr std::size_t kPoolSize = 64;
constexpr const char* kLinkPauseMs = "40";
// Untagged manifests are tagged again once GC may be collecting them.
constexpr auto kRetagAfter = 1200ms;
// Loose blobs for mounts timed against GC.
constexpr const char* kStaging = "race/staging";

// Sleeps until a little before the next whole second of the wall clock
// (keepd's times are whole seconds, on the same clock).
void JustBeforeTheNextSecond() {
  auto now = std::chrono::system_clock::now();
  auto next = std::chrono::ceil<std::chrono::seconds>(now + 20ms);
  std::this_thread::sleep_until(next - 15ms);
}

// A referrer pushed by digest; it must stay while its subject's tag does.
struct AckedReferrer {
  AckedImage image;  // tag = its digest
  std::string subject_tag;
};

struct Figures {
  int pushes = 0, acknowledged = 0, refused = 0, untagged = 0, referrers = 0, tags_deleted = 0;
  int mounts = 0, mount_fallbacks = 0, pulls_during_race = 0, retagged = 0;
  int clock_races = 0, clock_mounts_source_gone = 0;
  void Add(const Figures& o) {
    pushes += o.pushes;
    acknowledged += o.acknowledged;
    refused += o.refused;
    untagged += o.untagged;
    referrers += o.referrers;
    tags_deleted += o.tags_deleted;
    mounts += o.mounts;
    mount_fallbacks += o.mount_fallbacks;
    pulls_during_race += o.pulls_during_race;
    retagged += o.retagged;
    clock_races += o.clock_races;
    clock_mounts_source_gone += o.clock_mounts_source_gone;
  }
};

// A layer acknowledged lately, for other pushes to mount.
struct Pooled {
  AckedBlob blob;
  std::string bytes;  // to upload when the mount is refused
};

// Counts the test waits for while the race goes on.
struct Progress {
  std::atomic<int> acknowledged{0}, mounts{0}, retagged{0}, clock_races{0}, gc_runs{0};
  std::atomic<std::int64_t> gc_files{0}, gc_manifests{0};

  // What is still missing; empty once the race had all it needs.
  std::string Missing() const {
    std::string out;
    auto need = [&](const char* what, std::int64_t have, std::int64_t want) {
      if (have < want) {
        out += std::string(out.empty() ? "" : ", ") + what + " " + std::to_string(have) + " of " +
               std::to_string(want);
      }
    };
    need("GC runs", gc_runs, kMinGcRuns);
    need("acknowledged pushes", acknowledged, kMinAcknowledged);
    need("pushes timed against GC", clock_races, kMinClockRaces);
    need("blob files GC deleted", gc_files, 1);
    need("manifests GC deleted", gc_manifests, 1);
    need("mounts", mounts, 1);
    need("manifests tagged again while GC collected them", retagged, 1);
    return out;
  }
};

// What the threads share with the test.
struct Shared {
  std::atomic<bool> stop{false};
  Progress progress;
  std::mutex mu;
  std::deque<Pooled> pool;                  // GUARDED_BY(mu)
  std::vector<AckedImage> images;           // GUARDED_BY(mu)
  std::vector<AckedReferrer> referrers;     // GUARDED_BY(mu)
  std::vector<std::string> problems;        // GUARDED_BY(mu)
  Figures figures;                          // GUARDED_BY(mu)

  void Problem(std::string p) {
    std::lock_guard lock(mu);
    problems.push_back(std::move(p));
  }
};

std::string WithDigest(const std::string& location, const std::string& digest) {
  return location + (location.find('?') == std::string::npos ? '?' : '&') + "digest=" + digest;
}

json Descriptor(const char* media_type, const AckedBlob& b) {
  return {{"mediaType", media_type}, {"digest", b.digest}, {"size", b.size}};
}

// The config every repository's anchor image has.
const std::string kSharedConfig = R"({"architecture":"amd64","os":"linux","anchor":true})";

class RacePusher {
 public:
  RacePusher(int id, HttpsClient client, std::uint64_t seed,
             const std::vector<std::string>& shared_layers, Shared& shared)
      : id_(id), client_(std::move(client)), random_(seed), shared_layers_(shared_layers),
        shared_(shared) {}

  void Run() {
    for (int n = 0; !shared_.stop; ++n) {
      std::string repo = "race/r" + std::to_string(random_.Between(0, kRepos - 1));
      std::string tag = "p" + std::to_string(id_) + "-" + std::to_string(n);
      std::size_t what = random_.Between(1, 12);
      if (what <= 6) {
        if (auto image = PushImage(repo, tag, nullptr)) mine_.push_back(std::move(*image));
      } else if (what == 7 || what == 11) {
        // Garbage as soon as it lands. Made of the anchor's blobs only, it
        // may be tagged again later while GC is collecting it.
        bool anchored = what == 11;
        if (auto image = PushImage(repo, "", nullptr, anchored)) {
          ++figures_.untagged;
          if (anchored) untagged_.push_back({std::move(*image), Clock::now()});
        }
      } else if (what == 12) {
        Retag(tag);
      } else if (what == 8 && !mine_.empty()) {
        const AckedImage& subject = mine_[random_.Between(0, mine_.size() - 1)];
        if (auto r = PushImage(subject.repo, "", &subject)) {
          ++figures_.referrers;
          referrers_.push_back({std::move(*r), subject.tag});
        }
      } else if (what == 9 && !mine_.empty()) {
        DeleteATag();
      } else if (!mine_.empty()) {
        const AckedImage& image = mine_[random_.Between(0, mine_.size() - 1)];
        ++figures_.pulls_during_race;
        for (auto& p : ProblemsWithImage(client_, image)) shared_.Problem("during the race: " + p);
      }
    }
    Finish();
  }

  // Races GC on purpose. What was pushed in one second is old for a GC with
  // no grace from the next one on; just before it begins, this links such
  // content again (mounts a blob only a staging repository links; tags an
  // untagged manifest by its bytes), so that GC collects it just while the
  // link is being made.
  void RaceTheClock(const std::vector<AckedImage>& anchors) {
    for (int n = 0; !shared_.stop; ++n) {
      const AckedImage& anchor = anchors[static_cast<std::size_t>(n / 2) % anchors.size()];
      AckedImage image{anchor.repo, "clock-" + std::to_string(n), {}, {anchor.blobs[0]}};
      std::string nonce = std::to_string(random_.Between(0, SIZE_MAX));
      ++figures_.pushes;
      if (n % 2 == 0) {
        std::string bytes = random_.Bytes(random_.Between(1 << 10, 8 << 10));
        auto staged = Upload(kStaging, bytes);
        if (!staged) continue;
        JustBeforeTheNextSecond();
        ++figures_.clock_races;
        ++shared_.progress.clock_races;
        auto layer = Mount(image.repo, *staged, bytes);
        if (!layer) continue;
        auto source = Send({http::verb::head, BlobPath(kStaging, staged->digest)});
        if (source && source->status == 404) ++figures_.clock_mounts_source_gone;
        image.blobs.push_back(*layer);
        image.manifest = ImageManifest(image.blobs, nullptr, nonce);
        if (auto acked = PutImage(std::move(image))) mine_.push_back(std::move(*acked));
      } else {
        image.blobs.push_back(anchor.blobs[1 + random_.Between(0, anchor.blobs.size() - 2)]);
        image.manifest = ImageManifest(image.blobs, nullptr, nonce);
        if (!Expect({http::verb::put, ManifestPath(image.repo, image.manifest.digest()),
                     {{"Content-Type", image.manifest.media_type}}, image.manifest.bytes},
                    201)) {
          continue;
        }
        JustBeforeTheNextSecond();
        ++figures_.clock_races;
        ++shared_.progress.clock_races;
        if (Expect({http::verb::put, ManifestPath(image.repo, image.tag),
                    {{"Content-Type", image.manifest.media_type}}, image.manifest.bytes},
                   201)) {
          ++figures_.acknowledged;
          ++shared_.progress.acknowledged;
          mine_.push_back(std::move(image));
        }
      }
    }
    Finish();
  }

 private:
  void Finish() {
    std::lock_guard lock(shared_.mu);
    shared_.images.insert(shared_.images.end(), mine_.begin(), mine_.end());
    shared_.referrers.insert(shared_.referrers.end(), referrers_.begin(), referrers_.end());
    shared_.figures.Add(figures_);
  }

  // The reply, or nullopt (a problem noted) when the exchange broke.
  std::optional<Response> Send(const Request& r) {
    auto reply = client_.TrySend(r);
    if (!reply) shared_.Problem(Describe(r) + ": " + client_.last_error());
    return reply;
  }
  static std::string Describe(const Request& r) {
    return std::string(http::to_string(r.method)) + " " + r.target;
  }
  // The reply when it has `status`; otherwise nullopt and a problem noted.
  std::optional<Response> Expect(const Request& r, int status) {
    auto reply = Send(r);
    if (reply && reply->status != status) {
      shared_.Problem(Describe(r) + " -> " + std::to_string(reply->status) + " " + reply->body);
      return std::nullopt;
    }
    return reply;
  }

  std::optional<AckedBlob> Upload(const std::string& repo, const std::string& bytes) {
    std::string digest = DigestOf(bytes);
    AckedBlob acked{repo, digest, bytes.size()};
    if (random_.OneIn(2)) {
      if (!Expect({http::verb::post, UploadsPath(repo) + "?digest=" + digest, {}, bytes}, 201)) {
        return std::nullopt;
      }
      return acked;
    }
    auto started = Expect({http::verb::post, UploadsPath(repo)}, 202);
    if (!started) return std::nullopt;
    std::string range = "0-" + std::to_string(bytes.size() - 1);
    auto patched = Expect({http::verb::patch, started->Header("Location"),
                           {{"Content-Range", range}, {"Content-Type", "application/octet-stream"}},
                           bytes},
                          202);
    if (!patched) return std::nullopt;
    if (!Expect({http::verb::put, WithDigest(patched->Header("Location"), digest)}, 201)) {
      return std::nullopt;
    }
    return acked;
  }

  // Mounts a blob another repository got; when the registry cannot (GC took
  // it from there), it opens a session instead and the bytes go up in it.
  std::optional<AckedBlob> Mount(const std::string& repo, const AckedBlob& from,
                                 const std::string& bytes) {
    ++figures_.mounts;
    ++shared_.progress.mounts;
    auto r = Send({http::verb::post,
                   UploadsPath(repo) + "?mount=" + from.digest + "&from=" + from.repo});
    if (!r) return std::nullopt;
    if (r->status == 201) return AckedBlob{repo, from.digest, from.size};
    if (r->status != 202) {
      shared_.Problem("mount " + from.digest + " -> " + std::to_string(r->status) + " " + r->body);
      return std::nullopt;
    }
    ++figures_.mount_fallbacks;
    if (!Expect({http::verb::put, WithDigest(r->Header("Location"), from.digest),
                 {{"Content-Type", "application/octet-stream"}}, bytes},
                201)) {
      return std::nullopt;
    }
    return AckedBlob{repo, from.digest, from.size};
  }

  // A config and 1-2 layers (fresh, shared by all pushers, or mounted from
  // another repository), then the manifest by tag, or by digest when the tag
  // is empty; a referrer of `subject` when given.
  std::optional<AckedImage> PushImage(const std::string& repo, const std::string& tag,
                                      const AckedImage* subject, bool anchored = false) {
    ++figures_.pushes;
    AckedImage image{repo, tag, {}, {}};
    std::string nonce = std::to_string(random_.Between(0, SIZE_MAX));
    std::string config =
        anchored ? kSharedConfig
                 : json{{"architecture", "amd64"}, {"os", "linux"}, {"nonce", nonce}}.dump();
    auto acked = Upload(repo, config);
    if (!acked) return std::nullopt;
    image.blobs.push_back(*acked);
    for (std::size_t i = random_.Between(1, 2); i > 0; --i) {
      std::optional<AckedBlob> layer;
      std::size_t how = anchored ? 1 : random_.Between(1, 3);
      std::optional<Pooled> from = how == 2 ? PoolBlobOutside(repo) : std::nullopt;
      if (how == 1) {
        layer = Upload(repo, shared_layers_[random_.Between(0, shared_layers_.size() - 1)]);
      } else if (from) {
        layer = Mount(repo, from->blob, from->bytes);
      } else {
        std::string bytes = random_.Bytes(random_.Between(1 << 10, 64 << 10));
        layer = Upload(repo, bytes);
        if (layer) Remember(*layer, std::move(bytes));
      }
      if (!layer) return std::nullopt;
      image.blobs.push_back(*layer);
    }
    image.manifest = ImageManifest(image.blobs, subject, anchored ? nonce : "");
    return PutImage(std::move(image));
  }

  // An image manifest of a config and layers; a referrer of `subject` when
  // given; annotated with the nonce when there is one.
  static Manifest ImageManifest(const std::vector<AckedBlob>& blobs, const AckedImage* subject,
                                const std::string& nonce) {
    json layers = json::array();
    for (std::size_t i = 1; i < blobs.size(); ++i) {
      layers.push_back(Descriptor(mt::kOciLayer, blobs[i]));
    }
    json body = {{"schemaVersion", 2},
                 {"mediaType", mt::kOciManifest},
                 {"config", Descriptor(mt::kOciConfig, blobs[0])},
                 {"layers", layers}};
    if (subject) {
      body["artifactType"] = "application/vnd.example.signature";
      body["subject"] = subject->manifest.Descriptor();
    }
    if (!nonce.empty()) body["annotations"] = {{"nonce", nonce}};
    return MakeManifest(mt::kOciManifest, body);
  }

  // PUTs the image's manifest by its tag, or by digest when it has none;
  // the image once acknowledged.
  std::optional<AckedImage> PutImage(AckedImage image) {
    if (image.tag.empty()) image.tag = image.manifest.digest();
    auto put = Send({http::verb::put, ManifestPath(image.repo, image.tag),
                     {{"Content-Type", image.manifest.media_type}}, image.manifest.bytes});
    if (!put) return std::nullopt;
    if (put->status == 400 && IsError(*put, 400, "MANIFEST_BLOB_UNKNOWN")) {
      ++figures_.refused;  // GC took a blob between its upload and this PUT
      return std::nullopt;
    }
    if (put->status != 201) {
      shared_.Problem("PUT " + image.repo + ":" + image.tag + " -> " +
                      std::to_string(put->status) + " " + put->body);
      return std::nullopt;
    }
    ++figures_.acknowledged;
    ++shared_.progress.acknowledged;
    return image;
  }

  // Tags, by its exact bytes, an untagged manifest pushed long enough ago
  // that GC may be deleting it right now (its blobs are kept by the
  // repository's anchor image, so only the manifest itself is at stake).
  void Retag(const std::string& tag) {
    if (untagged_.empty() || Clock::now() - untagged_.front().second < kRetagAfter) return;
    AckedImage image = std::move(untagged_.front().first);
    untagged_.pop_front();
    image.tag = tag;
    ++figures_.pushes;
    auto put = Send({http::verb::put, ManifestPath(image.repo, tag),
                     {{"Content-Type", image.manifest.media_type}}, image.manifest.bytes});
    if (!put) return;
    if (put->status != 201) {
      shared_.Problem("PUT again " + image.repo + ":" + tag + " -> " +
                      std::to_string(put->status) + " " + put->body);
      return;
    }
    ++figures_.acknowledged;
    ++shared_.progress.acknowledged;
    ++figures_.retagged;
    ++shared_.progress.retagged;
    mine_.push_back(std::move(image));
  }

  void DeleteATag() {
    std::size_t i = random_.Between(0, mine_.size() - 1);
    const AckedImage& image = mine_[i];
    if (!Expect({http::verb::delete_, ManifestPath(image.repo, image.tag)}, 202)) return;
    ++figures_.tags_deleted;
    std::erase_if(referrers_, [&](const AckedReferrer& r) {
      return r.image.repo == image.repo && r.subject_tag == image.tag;
    });
    mine_.erase(mine_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void Remember(const AckedBlob& blob, std::string bytes) {
    std::lock_guard lock(shared_.mu);
    shared_.pool.push_back({blob, std::move(bytes)});
    if (shared_.pool.size() > kPoolSize) shared_.pool.pop_front();
  }

  // A layer some pusher got acknowledged in another repository, to mount.
  std::optional<Pooled> PoolBlobOutside(const std::string& repo) {
    std::lock_guard lock(shared_.mu);
    for (std::size_t tries = 0; tries < 4 && !shared_.pool.empty(); ++tries) {
      const Pooled& p = shared_.pool[random_.Between(0, shared_.pool.size() - 1)];
      if (p.blob.repo != repo) return p;
    }
    return std::nullopt;
  }

  int id_;
  HttpsClient client_;
  Randomness random_;
  const std::vector<std::string>& shared_layers_;
  Shared& shared_;
  std::vector<AckedImage> mine_;            // tagged and not deleted
  std::vector<AckedReferrer> referrers_;
  std::deque<std::pair<AckedImage, Clock::time_point>> untagged_;  // anchored, by push time
  Figures figures_;
};

struct GcFigures {
  int runs = 0, dry_runs = 0;
  std::int64_t manifests = 0, links = 0, files = 0, bytes = 0;
};

// GC with no grace in a loop, one dry run in five.
void CollectUntilStopped(HttpsClient client, Shared& shared, GcFigures& figures) {
  for (int n = 0; !shared.stop; ++n) {
    bool dry = n % 5 == 4;
    json body = {{"dry_run", dry}, {"grace_seconds", 0}};
    auto r = client.TrySend({http::verb::post, "/admin/v1/gc",
                             {{"Content-Type", "application/json"}}, body.dump()});
    if (!r || r->status != 200) {
      shared.Problem("POST /admin/v1/gc -> " + (r ? std::to_string(r->status) + " " + r->body
                                                    : client.last_error()));
      std::this_thread::sleep_for(50ms);
      continue;
    }
    json report = r->Json();
    if (dry) {
      ++figures.dry_runs;
      continue;
    }
    ++figures.runs;
    figures.manifests += report["manifests"]["count"].get<std::int64_t>();
    figures.links += report["blob_links"]["count"].get<std::int64_t>();
    figures.files += report["blob_files"]["count"].get<std::int64_t>();
    ++shared.progress.gc_runs;
    shared.progress.gc_manifests += report["manifests"]["count"].get<std::int64_t>();
    shared.progress.gc_files += report["blob_files"]["count"].get<std::int64_t>();
    figures.bytes += report["bytes_freed"].get<std::int64_t>();
  }
}

std::string Listed(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < 40; ++i) out += "  " + items[i] + "\n";
  return out;
}

TEST(GcRaceTest, AcknowledgedPushesSurviveGcRunningInALoop) {
  const std::uint64_t seed = TestSeed();
  const auto started = Clock::now();
  KeepdProcess keepd(json::object(),
                     KeepdOptions{.binary = KEEPD_TEST_PATH,
                                  .environment = {std::string("KEEPD_TEST_LINK_PAUSE_MS=") +
                                                  kLinkPauseMs}});
  Randomness random(seed);
  std::vector<std::string> shared_layers;
  for (int i = 0; i < kSharedLayers; ++i) {
    shared_layers.push_back(random.Bytes(random.Between(1 << 10, 64 << 10)));
  }
  // Each repository's anchor: tagged, it keeps the shared config and layers.
  std::vector<AckedImage> anchors;
  {
    HttpsClient c = keepd.AdminClient();
    for (int r = 0; r < kRepos; ++r) {
      AckedImage anchor{"race/r" + std::to_string(r), "anchor", {}, {}};
      json layers = json::array();
      for (const std::string* bytes : std::vector<const std::string*>{
               &kSharedConfig, &shared_layers[0], &shared_layers[1], &shared_layers[2]}) {
        anchor.blobs.push_back({anchor.repo, PushBlob(c, anchor.repo, *bytes), bytes->size()});
        if (bytes != &kSharedConfig) layers.push_back(Descriptor(mt::kOciLayer, anchor.blobs.back()));
      }
      anchor.manifest = PushManifest(c, anchor.repo, "anchor",
                                     MakeManifest(mt::kOciManifest,
                                                  {{"schemaVersion", 2},
                                                   {"mediaType", mt::kOciManifest},
                                                   {"config", Descriptor(mt::kOciConfig,
                                                                         anchor.blobs[0])},
                                                   {"layers", layers}}));
      anchors.push_back(std::move(anchor));
    }
  }
  ASSERT_FALSE(HasFailure());

  Shared shared;
  GcFigures gc;
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kPushers; ++i) {
      threads.emplace_back([&, i, client = keepd.AdminClient()]() mutable {
        RacePusher(i, std::move(client), seed + 1 + i, shared_layers, shared).Run();
      });
    }
    threads.emplace_back([&, client = keepd.AdminClient()]() mutable {
      RacePusher(kPushers, std::move(client), seed, shared_layers, shared).RaceTheClock(anchors);
    });
    threads.emplace_back([&, client = keepd.AdminClient()]() mutable {
      CollectUntilStopped(std::move(client), shared, gc);
    });
    // Until the race had everything to race, however slowly it goes.
    const auto race_started = Clock::now();
    while (Clock::now() - race_started < kMinRaceTime ||
           (!shared.progress.Missing().empty() && Clock::now() - race_started < kRaceDeadline)) {
      std::this_thread::sleep_for(50ms);
    }
    shared.stop = true;
    for (auto& t : threads) t.join();
  }

  // Now that nothing is pushed: one more collection once a second has passed
  // (times are whole seconds), so that everything unreferenced goes.
  HttpsClient client = keepd.AdminClient();
  std::this_thread::sleep_for(1100ms);
  const Headers kJson = {{"Content-Type", "application/json"}};
  Response last = client.Post("/admin/v1/gc", R"({"grace_seconds":0})", kJson);
  ASSERT_EQ(last.status, 200) << last.body;

  int checked = 0, blobs_checked = 0;
  shared.images.insert(shared.images.end(), anchors.begin(), anchors.end());
  for (const AckedImage& image : shared.images) {
    ++checked;
    blobs_checked += static_cast<int>(image.blobs.size());
    std::vector<std::string> problems = ProblemsWithImage(client, image);
    std::vector<std::string> needles = {image.tag, image.manifest.digest()};
    for (const auto& b : image.blobs) needles.push_back(b.digest);
    EXPECT_THAT(problems, ::testing::IsEmpty())
        << "acknowledged image " << image.repo << ":" << image.tag << " is damaged:\n"
        << Listed(problems) << "  request log:\n" << LogLinesAbout(keepd, needles);
  }
  for (const AckedReferrer& r : shared.referrers) {
    ++checked;
    blobs_checked += static_cast<int>(r.image.blobs.size());
    EXPECT_THAT(ProblemsWithImage(client, r.image), ::testing::IsEmpty())
        << "referrer of " << r.image.repo << ":" << r.subject_tag;
  }
  EXPECT_THAT(shared.problems, ::testing::IsEmpty()) << Listed(shared.problems);

  // The store is clean: nothing damaged, nothing left to collect.
  Response fsck = client.Post("/admin/v1/fsck", "{}", kJson);
  ASSERT_EQ(fsck.status, 200) << fsck.body;
  json f = fsck.Json();
  for (const char* key : {"corrupt", "stray_files", "missing_blobs", "broken_manifests"}) {
    EXPECT_EQ(f[key]["count"], 0) << key << ": " << f[key]["items"].dump();
  }
  Response dry = client.Post("/admin/v1/gc", R"({"dry_run":true,"grace_seconds":0})", kJson);
  ASSERT_EQ(dry.status, 200);
  EXPECT_EQ(dry.Json()["manifests"]["count"], 0) << dry.body;
  EXPECT_EQ(dry.Json()["blob_files"]["count"], 0) << dry.body;
  // keepd holds its database exclusively: it is checked with keepd stopped.
  std::string integrity;
  keepd.Restart(KeepdProcess::Stop::kGraceful,
                [&] { integrity = CheckDatabase(keepd.data_dir() / "metadata.db"); });
  EXPECT_EQ(integrity, "ok");

  // The race had something to race: GC deleted while pushes were acknowledged.
  // (Counts of events, reached however long it took; not rates.)
  const Figures& p = shared.figures;
  EXPECT_EQ(shared.progress.Missing(), "")
      << "the race stopped at its deadline (" << kRaceDeadline.count() << " s) without";
  EXPECT_GE(gc.runs, kMinGcRuns);
  EXPECT_GE(p.acknowledged, kMinAcknowledged);
  EXPECT_GT(gc.files, 0);
  EXPECT_GT(gc.manifests, 0);
  EXPECT_GT(p.mounts, 0);
  EXPECT_GT(p.retagged, 0);
  EXPECT_GE(p.clock_races, kMinClockRaces);

  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "[ gc race  ] " << kPushers << " pushers, " << seconds << " s: pushes " << p.pushes
            << ", acknowledged " << p.acknowledged << " (untagged " << p.untagged
            << ", referrers " << p.referrers << ", tagged while GC collected them "
            << p.retagged << "), refused for a collected blob " << p.refused
            << "; timed against GC " << p.clock_races << " (mounted while GC took the source "
            << p.clock_mounts_source_gone << ")"
            << "; mounts " << p.mounts << " (fell back to an upload " << p.mount_fallbacks
            << "); tags deleted " << p.tags_deleted << "; pulls during the race "
            << p.pulls_during_race << "; GC runs " << gc.runs << " (+" << gc.dry_runs
            << " dry) deleting " << gc.manifests << " manifests, " << gc.links << " links, "
            << gc.files << " blob files (" << gc.bytes << " bytes); checked after: " << checked
            << " manifests, " << blobs_checked << " blobs; final run deleted "
            << last.Json()["blob_files"]["count"] << " blob files\n";
  RecordProperty("gc_runs", gc.runs);
  RecordProperty("pushes_acknowledged", p.acknowledged);
  RecordProperty("pushes_refused", p.refused);
  RecordProperty("gc_blob_files_deleted", static_cast<int>(gc.files));
}

}  // namespace
}  // namespace keep::testkit
