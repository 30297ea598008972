// Crash safety: concurrent pushers push random images while keepd is killed
// with SIGKILL at random moments and restarted on the same data directory.
// Whatever the registry acknowledged (201) must survive, byte for byte, and
// nothing half-written may be left in the data directory.
//
// The test cannot pass without having tested something: every stretch
// between two kills must get pushes acknowledged, it kills until enough
// kills have landed while an upload session was open (one keepd had
// started and not finished, as its uploads/ directory shows), and a
// connection may break only when a kill broke it. A keepd that dropped
// every connection, or answered nothing but errors, fails.
//
// KEEP_TEST_SEED=<n> replays a run's random choices (not its timing).
#include "tests/crash/image_pusher.h"
#include "tests/crash/inspect.h"
#include "tests/support/keepd_process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

namespace keep::testkit {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPushers = 4;
// Kills that must land while an upload session is open; keepd is killed
// until that many did, or kMaxKills were made (then the test fails).
constexpr int kKillsDuringUploads = 5;
constexpr int kMaxKills = 15;
// Pushes acknowledged between two kills (about 100 in all).
constexpr int kPushesBetweenKills = 20;
constexpr int kSharedLayers = 3;
// Hang guards only: no figure here is a rate the test requires.
constexpr auto kSegmentDeadline = 60s;
constexpr auto kOpenSessionWait = 10s;

// What the pushers share with the test.
struct Ledger {
  std::atomic<bool> stop{false};
  // Even while keepd serves; odd from just before a kill until it serves
  // again. An exchange that broke while it did not change broke on its own.
  std::atomic<int> epoch{0};
  std::atomic<int> attempts{0};
  std::atomic<int> acknowledged{0};
  std::atomic<int> open_sessions{0};  // upload sessions open in pushers now

  std::mutex mu;
  std::vector<AckedImage> images;       // GUARDED_BY(mu)
  std::vector<AckedBlob> blobs;         // GUARDED_BY(mu)
  std::vector<Unexpected> unexpected;   // GUARDED_BY(mu)
  std::vector<std::string> broken_without_a_kill;  // GUARDED_BY(mu)
  int transport_failures = 0;           // GUARDED_BY(mu)
};

// One pusher's loop: an image with a tag of its own per iteration, into one
// of a few repositories shared by all pushers.
void PushUntilStopped(int id, HttpsClient client, std::uint64_t seed,
                      std::vector<std::string> shared_layers, Ledger& ledger) {
  ImagePusher pusher(std::move(client), seed, std::move(shared_layers));
  pusher.CountOpenSessionsIn(&ledger.open_sessions);
  int connected_epoch = 0;
  for (int n = 0; !ledger.stop; ++n) {
    const int epoch = ledger.epoch;
    if (epoch % 2 == 1) {  // being killed and restarted
      std::this_thread::sleep_for(5ms);
      continue;
    }
    if (epoch != connected_epoch) {
      pusher.Disconnect();  // its connection was to the keepd that was killed
      connected_epoch = epoch;
    }
    std::string repo = "crash/r" + std::to_string(pusher.random().Between(0, 2));
    std::string tag = "p" + std::to_string(id) + "-" + std::to_string(n);
    ++ledger.attempts;
    const int failures = pusher.transport_failures();
    std::optional<AckedImage> image = pusher.PushRandomImage(repo, tag);
    if (pusher.transport_failures() > failures && ledger.epoch == epoch) {
      std::lock_guard lock(ledger.mu);
      ledger.broken_without_a_kill.push_back(pusher.last_transport_failure());
    }
    if (image) {
      std::lock_guard lock(ledger.mu);
      ledger.images.push_back(std::move(*image));
      ++ledger.acknowledged;
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  std::lock_guard lock(ledger.mu);
  ledger.blobs.insert(ledger.blobs.end(), pusher.acked_blobs().begin(), pusher.acked_blobs().end());
  ledger.unexpected.insert(ledger.unexpected.end(), pusher.unexpected().begin(),
                           pusher.unexpected().end());
  ledger.transport_failures += pusher.transport_failures();
}

// Stops the pushers and waits for them, however the test ends.
class PusherThreads {
 public:
  explicit PusherThreads(Ledger& ledger) : ledger_(ledger) {}
  ~PusherThreads() { Join(); }
  template <class... Args>
  void Start(Args&&... args) {
    threads_.emplace_back(PushUntilStopped, std::forward<Args>(args)..., std::ref(ledger_));
  }
  void Join() {
    ledger_.stop = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  Ledger& ledger_;
  std::vector<std::thread> threads_;
};

std::string Listed(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += "  " + s + "\n";
  return out;
}

class CrashTest : public ::testing::Test {
 protected:
  // Waits until kPushesBetweenKills more pushes were acknowledged, then a
  // random while, then (for a while at most) until a pusher has an upload
  // session open; kills keepd and restarts it. Once enough kills landed
  // during an upload (or too many were made) the pushers stop before the
  // restart, so that the restarted keepd is checked as the crash left it.
  void KillOnce(Randomness& random) {
    const int target = ledger_.acknowledged + kPushesBetweenKills;
    auto deadline = Clock::now() + kSegmentDeadline;
    while (ledger_.acknowledged < target && Clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    ASSERT_GE(ledger_.acknowledged, target)
        << "pushes stalled after kill " << kills_ << " (attempts " << ledger_.attempts
        << ", acknowledged " << ledger_.acknowledged << "); keepd stderr:\n"
        << keepd_.Messages();
    std::this_thread::sleep_for(std::chrono::milliseconds(random.Between(0, 150)));
    deadline = Clock::now() + kOpenSessionWait;
    while (ledger_.open_sessions == 0 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ++ledger_.epoch;
    keepd_.Restart(KeepdProcess::Stop::kCrash, [&] {
      ++kills_;
      tmp_files_left_ += static_cast<int>(FilesUnder(keepd_.data_dir() / "tmp").size());
      // Sessions keepd started since the last kill and had not finished.
      std::set<std::filesystem::path> sessions;
      for (const auto& f : FilesUnder(keepd_.data_dir() / "uploads")) sessions.insert(f);
      for (const auto& f : sessions) {
        if (!sessions_before_.contains(f)) {
          ++kills_during_uploads_;
          break;
        }
      }
      sessions_before_ = std::move(sessions);
      if (kills_during_uploads_ >= kKillsDuringUploads || kills_ >= kMaxKills) ledger_.stop = true;
    });
    ++ledger_.epoch;
  }

  // Every acknowledged image and blob, as served now; the problems found.
  int CheckAcknowledged(HttpsClient& client) {
    std::set<std::pair<std::string, std::string>> checked;
    for (const AckedImage& image : ledger_.images) {
      std::vector<std::string> problems = ProblemsWithImage(client, image);
      std::vector<std::string> needles = {image.tag, image.manifest.digest()};
      for (const AckedBlob& b : image.blobs) {
        checked.emplace(b.repo, b.digest);
        needles.push_back(b.digest);
      }
      EXPECT_THAT(problems, ::testing::IsEmpty())
          << "acknowledged image " << image.repo << ":" << image.tag << " is damaged:\n"
          << Listed(problems) << "  request log:\n" << LogLinesAbout(keepd_, needles);
    }
    // Blobs of pushes whose manifest never got through were acknowledged all the same.
    for (const AckedBlob& blob : ledger_.blobs) {
      if (!checked.emplace(blob.repo, blob.digest).second) continue;
      std::string problem = ProblemWithBlob(client, blob);
      EXPECT_EQ(problem, "") << "request log:\n" << LogLinesAbout(keepd_, {blob.digest});
    }
    return static_cast<int>(checked.size());
  }

  KeepdProcess keepd_;
  Ledger ledger_;
  int kills_ = 0;
  int kills_during_uploads_ = 0;  // that left a session of theirs in uploads/
  std::set<std::filesystem::path> sessions_before_;  // in uploads/ at the last kill
  int tmp_files_left_ = 0;  // by the kills, before keepd restarted
};

TEST_F(CrashTest, AcknowledgedPushesSurviveKills) {
  const std::uint64_t seed = TestSeed();
  const auto started = Clock::now();
  Randomness random(seed);
  std::vector<std::string> shared_layers;
  for (int i = 0; i < kSharedLayers; ++i) {
    shared_layers.push_back(random.Bytes(random.Between(1 << 10, 200 << 10)));
  }

  PusherThreads pushers(ledger_);
  for (int i = 0; i < kPushers; ++i) {
    pushers.Start(i, keepd_.AdminClient(), seed + 1 + i, shared_layers);
  }
  while (!ledger_.stop && !HasFatalFailure()) KillOnce(random);
  pushers.Join();
  ASSERT_FALSE(HasFatalFailure());
  // The crash test tested crashes: kills landed while uploads were open,
  // and pushes were acknowledged between every two of them.
  EXPECT_GE(kills_during_uploads_, kKillsDuringUploads)
      << kills_ << " kills, of which " << kills_during_uploads_
      << " while keepd had an upload session open";
  EXPECT_GE(static_cast<int>(ledger_.images.size()), kills_ * kPushesBetweenKills);
  EXPECT_THAT(ledger_.broken_without_a_kill, ::testing::IsEmpty())
      << "connections that broke while keepd was not being killed";

  // keepd was restarted after the last kill, and nothing was pushed since:
  // everything acknowledged must be there.
  HttpsClient client = keepd_.AdminClient();
  int blobs_pulled = CheckAcknowledged(client);
  std::vector<std::string> unexpected;
  for (const auto& u : ledger_.unexpected) {
    unexpected.push_back(u.request + " -> " + std::to_string(u.status) + " " + u.body);
  }
  EXPECT_THAT(unexpected, ::testing::IsEmpty()) << "replies other than the protocol's";

  const auto data = keepd_.data_dir();
  std::vector<std::string> leftovers;
  for (const auto& f : FilesUnder(data / "tmp")) leftovers.push_back(f.string());
  EXPECT_THAT(leftovers, ::testing::IsEmpty()) << "keepd should empty tmp/ when it starts";
  // keepd holds its database exclusively: it is checked with keepd stopped.
  std::string integrity;
  keepd_.Restart(KeepdProcess::Stop::kGraceful,
                 [&] { integrity = CheckDatabase(data / "metadata.db"); });
  EXPECT_EQ(integrity, "ok");
  client.Disconnect();  // its connection went with the stopped keepd
  BlobTreeReport tree = RehashBlobTree(data);
  EXPECT_THAT(tree.problems, ::testing::IsEmpty()) << "blob files that are not their digest";
  EXPECT_TRUE(keepd_.running());

  // keepd's own integrity check agrees: every blob is its digest, every
  // link has its file, every manifest has what it references.
  Response fsck = client.Post("/admin/v1/fsck", R"({"repair":false})",
                              {{"Content-Type", "application/json"}});
  ASSERT_EQ(fsck.status, 200) << fsck.body;
  const nlohmann::json report = fsck.Json();
  for (const char* list : {"corrupt", "missing_blobs", "broken_manifests"}) {
    EXPECT_EQ(report[list]["count"], 0) << list << ": " << report[list]["items"].dump(2);
  }

  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "[ crash    ] " << kPushers << " pushers, " << seconds << " s: pushes attempted "
            << ledger_.attempts << ", acknowledged " << ledger_.images.size() << "; kills "
            << kills_ << " (" << kills_during_uploads_ << " with an upload session open, leaving "
            << tmp_files_left_ << " files in tmp/)"
            << "; transport failures " << ledger_.transport_failures
            << "; blobs acknowledged " << ledger_.blobs.size() << ", pulled and hashed "
            << blobs_pulled << "; blob files re-hashed " << tree.checked
            << "; upload sessions left behind " << FilesUnder(data / "uploads").size()
            << "; fsck checked " << report["blobs_checked"] << " blobs, "
            << report["bytes_checked"] << " bytes\n";
  RecordProperty("pushes_attempted", ledger_.attempts.load());
  RecordProperty("pushes_acknowledged", static_cast<int>(ledger_.images.size()));
  RecordProperty("kills", kills_);
  RecordProperty("kills_during_uploads", kills_during_uploads_);
  RecordProperty("blob_files_rehashed", tree.checked);
  RecordProperty("fsck_blobs_checked", report["blobs_checked"].dump());
}

}  // namespace
}  // namespace keep::testkit
