// A graceful stop (SIGTERM): the request in flight is answered and stored
// whole, idle connections do not hold the stop up, new connections are
// refused, and timeouts.stop_seconds and a second signal bound the wait.

#include "tests/support/keepd_test.h"

#include <csignal>
#include <thread>

namespace keep::testkit {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A push whose header and first half are sent; the rest is for the test.
struct HalfPush {
  std::string blob;
  HttpsClient client;
};

HalfPush StartHalfPush(const KeepdProcess& keepd, const std::string& repo) {
  HalfPush push{std::string(1 << 20, '\0'), keepd.AdminClient()};
  for (std::size_t i = 0; i < push.blob.size(); ++i) push.blob[i] = static_cast<char>(i * 7 + 3);
  push.client.Write({http::verb::post,
                     UploadsPath(repo) + "?digest=" + DigestOf(push.blob),
                     {{"Content-Length", std::to_string(push.blob.size())}},
                     push.blob.substr(0, push.blob.size() / 2)});
  return push;
}

TEST(GracefulStopTest, TheRequestInFlightIsAnsweredAndIdleConnectionsDoNotHoldTheStop) {
  // stop_seconds well past the harness's 10 s wait for a stop: keepd must
  // exit because nothing is left to serve, not because the time ran out.
  KeepdProcess keepd(json{{"timeouts", {{"stop_seconds", 60}, {"idle_seconds", 600}}}});
  HttpsClient idle = keepd.AdminClient();
  ASSERT_EQ(idle.Get("/v2/").status, 200);  // keeps its connection open, idle
  HalfPush push = StartHalfPush(keepd, "stop/app");

  std::thread stopper([&] { keepd.Shutdown(); });  // fails the test unless keepd exits 0
  ASSERT_NE(keepd.MessageWhen("requests in flight get up to 60 s"), "") << keepd.Messages();
  HttpsClient late = keepd.AdminClient();
  EXPECT_FALSE(late.TryConnect()) << "a stopping keepd accepted a new connection";

  push.client.WriteRaw(std::string_view(push.blob).substr(push.blob.size() / 2));
  std::optional<Response> answer = push.client.ReadResponse();
  stopper.join();
  ASSERT_TRUE(answer.has_value()) << "the request in flight was cut: " << keepd.Messages();
  EXPECT_EQ(answer->status, 201) << answer->body;
  EXPECT_EQ(answer->Header("Connection"), "close") << "the client is told to go elsewhere";

  keepd.Restart();
  Response back = keepd.AdminClient().Get(BlobPath("stop/app", DigestOf(push.blob)));
  EXPECT_EQ(back.status, 200);
  EXPECT_TRUE(back.body == push.blob) << "the blob pushed during the stop is not whole";
}

TEST(GracefulStopTest, AStalledRequestIsCutAfterStopSeconds) {
  KeepdProcess keepd(json{{"timeouts", {{"stop_seconds", 1}}}});
  HalfPush push = StartHalfPush(keepd, "stop/stalled");
  keepd.Shutdown();  // within the harness's 10 s, exit status 0
  EXPECT_NE(keepd.Messages().find("connections still open: 1, cut after 1 s"), std::string::npos)
      << keepd.Messages();
}

TEST(GracefulStopTest, ASecondSignalStopsAtOnce) {
  KeepdProcess keepd(json{{"timeouts", {{"stop_seconds", 600}}}});
  HalfPush push = StartHalfPush(keepd, "stop/twice");
  const pid_t pid = keepd.pid();
  std::thread stopper([&] { keepd.Shutdown(); });  // within the harness's 10 s, exit status 0
  const bool draining = !keepd.MessageWhen("requests in flight get up to 600 s").empty();
  if (draining) ::kill(pid, SIGTERM);
  stopper.join();
  ASSERT_TRUE(draining) << keepd.Messages();
  EXPECT_NE(keepd.Messages().find("keepd: stopping at once"), std::string::npos)
      << keepd.Messages();
}

}  // namespace
}  // namespace keep::testkit
