// Locks and secrets that keepd replicas share through their database
// (Metadata::LockAcrossReplicas, Metadata::SharedSecret, KeepSecret).
//
// Run as they are, the tests use SQLite, where "two replicas" are one
// process's two requests on one Metadata. With KEEP_TEST_POSTGRES and
// KEEP_TEST_POSTGRES_PASSWORD set (tests/scale/with_postgres.sh, the ctest
// unit_postgres), each replica is a Metadata of its own on one schema, with
// its own connections, as two keepd processes would be.
#include "storage/metadata.h"
#include "storage/secrets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

namespace keep {
namespace {

class ReplicaLocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keep-replica-locks-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const char* pg = std::getenv("KEEP_TEST_POSTGRES");
    postgres_ = pg != nullptr && *pg != '\0';
    if (postgres_) {
      options_.conninfo = pg;
      const char* pw = std::getenv("KEEP_TEST_POSTGRES_PASSWORD");
      options_.password = pw ? pw : "";
      options_.schema = "unit_locks_" + std::to_string(std::random_device()());
    }
    first_ = Open();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Metadata> Open() {
    auto md = postgres_ ? OpenPostgresMetadata(options_)
                        : OpenSqliteMetadata((dir_ / "metadata.db").string());
    EXPECT_TRUE(md) << md.error().message;
    return md ? std::move(*md) : nullptr;
  }
  // Another replica: on PostgreSQL a Metadata of its own, on SQLite the same.
  Metadata& Other() {
    if (!postgres_) return *first_;
    if (!second_) second_ = Open();
    return *second_;
  }

  std::filesystem::path dir_;
  bool postgres_ = false;
  PostgresOptions options_;
  std::unique_ptr<Metadata> first_, second_;
};

TEST_F(ReplicaLocksTest, ATryFailsWhileAnotherHoldsTheKeyAndSucceedsOnceItIsFree) {
  auto held = first_->LockAcrossReplicas(LockKind::kUpload, "session-1", false);
  ASSERT_TRUE(held && *held) << (held ? "not taken" : held.error().message);
  auto refused = Other().LockAcrossReplicas(LockKind::kUpload, "session-1", false);
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_FALSE(*refused) << "two holders of one upload session";
  // Another key, and the same key of another kind, are free.
  auto other_key = Other().LockAcrossReplicas(LockKind::kUpload, "session-2", false);
  EXPECT_TRUE(other_key && *other_key);
  auto other_kind = Other().LockAcrossReplicas(LockKind::kBlob, "session-1", false);
  EXPECT_TRUE(other_kind && *other_kind);
  held->reset();
  auto now = Other().LockAcrossReplicas(LockKind::kUpload, "session-1", false);
  ASSERT_TRUE(now) << now.error().message;
  EXPECT_TRUE(*now) << "the key stayed taken after its holder let go";
}

TEST_F(ReplicaLocksTest, AWaiterGetsTheKeyWhenItsHolderLetsGo) {
  auto held = first_->LockAcrossReplicas(LockKind::kBlob, "sha256:aa", true);
  ASSERT_TRUE(held && *held);
  Metadata& other = Other();
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto mine = other.LockAcrossReplicas(LockKind::kBlob, "sha256:aa", true);
    got = mine && *mine;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(got) << "the waiter took a key that was held";
  held->reset();
  waiter.join();
  EXPECT_TRUE(got);
}

TEST_F(ReplicaLocksTest, TwoRequestsOfOneReplicaDoNotShareAKey) {
  // PostgreSQL would let one session take its own lock twice.
  auto held = first_->LockAcrossReplicas(LockKind::kMaintenance, "gc/fsck", false);
  ASSERT_TRUE(held && *held);
  auto again = first_->LockAcrossReplicas(LockKind::kMaintenance, "gc/fsck", false);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(ReplicaLocksTest, ASharedSecretIsTheFirstOfferOnEveryReplica) {
  auto first = first_->SharedSecret("token.key", std::string("first\0offer", 11));
  if (!postgres_) {
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error().code, ErrorCode::kUnsupported);
    return;
  }
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, std::string("first\0offer", 11));  // bytes, NUL included
  auto second = Other().SharedSecret("token.key", "second offer");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*second, *first);
}

TEST_F(ReplicaLocksTest, KeepSecretGivesEveryReplicaTheSameKeyAndACopyInItsDataDir) {
  int made = 0;
  auto make = [&] { return "secret-" + std::to_string(++made); };
  std::filesystem::create_directories(dir_ / "a");
  std::filesystem::create_directories(dir_ / "b");
  const std::string a = (dir_ / "a" / "token.key").string();
  const std::string b = (dir_ / "b" / "token.key").string();
  auto one = KeepSecret(*first_, a, "the token key", make);
  ASSERT_TRUE(one) << one.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(a.c_str(), &st), 0) << "no file written";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = KeepSecret(*first_, a, "the token key", make);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *one) << "a restart made a new key";
  if (!postgres_) return;
  // A second replica with a data dir of its own gets the same key, and a copy.
  auto two = KeepSecret(Other(), b, "the token key", make);
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(*two, *one);
  auto copy = ReadPrivateFile(b);
  ASSERT_TRUE(copy && *copy);
  EXPECT_EQ(**copy, *one);
}

}  // namespace
}  // namespace keep
