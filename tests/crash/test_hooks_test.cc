// Test hooks live in keepd-test only. keepd-test is keepd built with
// KEEP_TEST_HOOKS (tests/crash/CMakeLists.txt), for the GC race; keepd, the
// binary `./keep.sh run` installs, must not know the hooks' variables, let
// alone honour them.
#include "tests/support/keepd_process.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>

namespace keep::testkit {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kLinkPause = "KEEPD_TEST_LINK_PAUSE_MS";

bool BinaryMentions(const char* path, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(bytes.empty()) << "cannot read " << path;
  return bytes.find(needle) != std::string::npos;
}

// The time a monolithic blob upload takes, which links the blob; 0 when it failed.
Clock::duration TimeAnUpload(const KeepdProcess& keepd) {
  HttpsClient client = keepd.AdminClient();
  const std::string blob = "a blob to link";
  auto start = Clock::now();
  auto r = client.TrySend(
      {http::verb::post, UploadsPath("hooks/app") + "?digest=" + DigestOf(blob), {}, blob});
  auto took = Clock::now() - start;
  EXPECT_TRUE(r) << "no answer: " << client.last_error();
  if (!r) return Clock::duration::zero();
  EXPECT_EQ(r->status, 201) << r->body;
  return took;
}

TEST(TestHooksTest, OnlyKeepdTestNamesTheHooks) {
  EXPECT_TRUE(BinaryMentions(KEEPD_TEST_PATH, kLinkPause)) << KEEPD_TEST_PATH;
  EXPECT_FALSE(BinaryMentions(KEEPD_PRODUCTION_PATH, "KEEPD_TEST_")) << KEEPD_PRODUCTION_PATH;
}

// A pause of a minute would outlast the client's 30-second deadline.
TEST(TestHooksTest, KeepdIgnoresTheLinkPause) {
  KeepdProcess keepd(nlohmann::json::object(),
                     KeepdOptions{.binary = KEEPD_PRODUCTION_PATH,
                                  .environment = {std::string(kLinkPause) + "=60000"}});
  TimeAnUpload(keepd);
}

// The other side of the test above: the hook works where it is compiled in.
TEST(TestHooksTest, KeepdTestPausesBeforeLinking) {
  KeepdProcess keepd(nlohmann::json::object(),
                     KeepdOptions{.binary = KEEPD_TEST_PATH,
                                  .environment = {std::string(kLinkPause) + "=1500"}});
  EXPECT_GE(TimeAnUpload(keepd), 1500ms);
}

}  // namespace
}  // namespace keep::testkit
