// Settings of the configuration table (README.md) that change what keepd
// does on the wire or on disk: each test sets one to a value other than its
// default and fails if keepd went on with the default. The auth.* settings
// are in config_auth_test.cc, the environment overrides and the root check
// in config_environment_test.cc.
#include "tests/support/keepd_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <set>
#include <thread>

namespace keep::testkit {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Tries to connect up to `attempts` times, pausing between tries: a slot
// keepd frees when a connection ends is freed once it has seen the end.
bool ConnectsAfterRetries(HttpsClient& client, int attempts = 100) {
  for (int i = 0; i < attempts; ++i) {
    if (client.TryConnect()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// Runs SQL on keepd's database. REQUIRES: keepd is stopped (it holds the
// database exclusively while it runs), e.g. in Restart's while-stopped step.
void RunSqlWhileStopped(const KeepdProcess& keepd, const std::string& sql) {
  ASSERT_FALSE(keepd.running()) << "keepd's database is changed only while keepd is stopped";
  EXPECT_EQ(RunMetadataSql(keepd, sql), 1) << sql;
}

// Makes an upload session look opened `seconds` earlier.
void AgeUploadWhileStopped(const KeepdProcess& keepd, const std::string& id, long long seconds) {
  RunSqlWhileStopped(keepd, "UPDATE uploads SET created_at = created_at - " +
                                std::to_string(seconds) + " WHERE id = '" + id + "'");
}

struct Upload {
  std::string location;
  std::string id;
};

Upload OpenUpload(HttpsClient& client, std::string_view repo) {
  Response r = client.Post(UploadsPath(repo));
  EXPECT_EQ(r.status, 202) << r.body;
  return {r.Header("Location"), r.Header("Docker-Upload-UUID")};
}

// --- limits.max_connections -------------------------------------------------

TEST(ConfigBehaviourTest, ConnectionsPastMaxConnectionsAreClosedUntilOneEnds) {
  KeepdProcess keepd(json{{"limits", {{"max_connections", 2}}}});
  HttpsClient first = keepd.AdminClient(), second = keepd.AdminClient();
  // The start-up probe's connection may still hold a slot for a moment.
  ASSERT_TRUE(ConnectsAfterRetries(first)) << first.last_error();
  ASSERT_TRUE(ConnectsAfterRetries(second)) << second.last_error();
  ASSERT_EQ(first.Get("/v2/").status, 200);
  ASSERT_EQ(second.Get("/v2/").status, 200);

  HttpsClient third = keepd.AdminClient();
  EXPECT_FALSE(third.TryConnect()) << "a third connection was served with max_connections 2";
  // The two admitted connections go on being served, on the same connections.
  EXPECT_EQ(first.Get("/v2/").status, 200);
  EXPECT_EQ(second.Get("/v2/").status, 200);
  EXPECT_EQ(first.connections_opened() + second.connections_opened(), 2);

  // When one ends, its slot is free for the next client, and only for one.
  first.Disconnect();
  ASSERT_TRUE(ConnectsAfterRetries(third)) << "the slot of a closed connection was not freed: "
                                           << third.last_error();
  EXPECT_EQ(third.Get("/v2/").status, 200);
  HttpsClient fourth = keepd.AdminClient();
  EXPECT_FALSE(fourth.TryConnect()) << "a third connection was served after one was replaced";
  EXPECT_EQ(second.Get("/v2/").status, 200);
}

// --- limits.max_body_bytes --------------------------------------------------

// `text` padded at its end with `pad` up to exactly `size` bytes.
std::string PaddedTo(std::string text, std::size_t size, char pad) {
  EXPECT_LE(text.size(), size);
  text.append(size - text.size(), pad);
  return text;
}

constexpr std::size_t kBodyLimit = 2048;

class MaxBodyTest : public KeepdTest {
 protected:
  MaxBodyTest() : KeepdTest({{"limits", {{"max_body_bytes", kBodyLimit}}}}) {}
};

TEST_F(MaxBodyTest, AdminBodyAtTheLimitIsReadAndOnePastItIsRefused) {
  // JSON with trailing spaces is the same object.
  Response at = client_.Post("/admin/v1/namespaces", PaddedTo(R"({"name":"acme"})", kBodyLimit, ' '));
  EXPECT_EQ(at.status, 201) << at.body;
  HttpsClient other = keepd_.AdminClient();
  Response past =
      other.Post("/admin/v1/namespaces", PaddedTo(R"({"name":"beta"})", kBodyLimit + 1, ' '));
  EXPECT_TRUE(IsError(past, 413, "SIZE_INVALID")) << past.status << " " << past.body;
  Response list = keepd_.AdminClient().Get("/admin/v1/namespaces");
  EXPECT_NE(list.body.find("acme"), std::string::npos) << list.body;
  EXPECT_EQ(list.body.find("beta"), std::string::npos) << "the refused body was acted on: " << list.body;
}

TEST_F(MaxBodyTest, TokenFormAtTheLimitIsReadAndOnePastItIsRefused) {
  const std::string form = std::string("grant_type=password&service=keep&username=") + kAdminUser +
                           "&password=" + kAdminPassword + "&scope=repository:acme/app:pull&pad=";
  Headers type = {{"Content-Type", "application/x-www-form-urlencoded"}};
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response at = anonymous.Post("/token", PaddedTo(form, kBodyLimit, 'p'), type);
  EXPECT_EQ(at.status, 200) << at.body;
  EXPECT_TRUE(at.Json().contains("access_token")) << at.body;
  HttpsClient other = keepd_.AnonymousClient();
  Response past = other.Post("/token", PaddedTo(form, kBodyLimit + 1, 'p'), type);
  EXPECT_TRUE(IsError(past, 413, "SIZE_INVALID")) << past.status << " " << past.body;
}

// A POST that opens an upload session takes no body; one it is sent is read
// and dropped up to the limit, and refused past it.
TEST_F(MaxBodyTest, UploadSessionPostBodyPastTheLimitIsRefused) {
  Response at = client_.Post(UploadsPath("acme/app"), std::string(kBodyLimit, 'b'));
  EXPECT_EQ(at.status, 202) << at.body;
  HttpsClient other = keepd_.AdminClient();
  Response past = other.Post(UploadsPath("acme/app"), std::string(kBodyLimit + 1, 'b'));
  EXPECT_TRUE(IsError(past, 400, "BLOB_UPLOAD_INVALID")) << past.status << " " << past.body;
}

// With the default (1 MiB) an admin body far past 64 KiB is read: admin
// bodies follow limits.max_body_bytes like the others, not a limit of their own.
TEST_F(KeepdTest, AdminBodiesFollowTheDefaultBodyLimit) {
  Response r = client_.Post("/admin/v1/namespaces", PaddedTo(R"({"name":"acme"})", 200 * 1024, ' '));
  EXPECT_EQ(r.status, 201) << r.body;
}

// --- timeouts.idle_seconds --------------------------------------------------

TEST(ConfigBehaviourTest, IdleKeepAliveConnectionIsClosedAndABusyOneIsNot) {
  // The header deadline is far past the client's own (30 s): only the idle
  // deadline can close the connection while the client waits.
  KeepdProcess keepd(json{{"timeouts", {{"idle_seconds", 1}, {"header_seconds", 600}}}});
  HttpsClient idle = keepd.AdminClient(), busy = keepd.AdminClient();
  ASSERT_EQ(idle.Get("/v2/").status, 200);
  ASSERT_TRUE(idle.connected());

  // A request every quarter second, for three idle periods: never idle that long.
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(busy.Get("/v2/").status, 200);
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(busy.connections_opened(), 1) << "a connection in use was closed";

  // Reading on the idle connection meets keepd's close, not the client's deadline.
  auto nothing = idle.ReadResponse();
  EXPECT_FALSE(nothing.has_value()) << "keepd answered a request that was never sent";
  EXPECT_EQ(idle.last_error().find("timeout"), std::string::npos)
      << "keepd kept the idle connection open: " << idle.last_error();
  EXPECT_FALSE(idle.connected());
  EXPECT_EQ(idle.Get("/v2/").status, 200);  // and a new connection is served
  EXPECT_EQ(idle.connections_opened(), 2);
}

// --- uploads.ttl_hours ------------------------------------------------------

// keepd purges expired sessions at start (and every hour, and in garbage
// collection): the TTL is the configured one, not the default day.
TEST(ConfigBehaviourTest, UploadSessionsOlderThanTheTtlArePurgedAtStart) {
  KeepdProcess keepd(json{{"uploads", {{"ttl_hours", 2}}}});
  HttpsClient admin = keepd.AdminClient();
  Upload expired = OpenUpload(admin, "ttl/app"), young = OpenUpload(admin, "ttl/app"),
         fresh = OpenUpload(admin, "ttl/app");
  ASSERT_EQ(admin.Patch(expired.location, "some bytes").status, 202);
  const auto expired_data = keepd.data_dir() / "uploads" / expired.id;
  ASSERT_TRUE(std::filesystem::exists(expired_data));
  keepd.Restart(KeepdProcess::Stop::kGraceful, [&] {
    AgeUploadWhileStopped(keepd, expired.id, 3 * 3600);  // past two hours
    AgeUploadWhileStopped(keepd, young.id, 1 * 3600);    // within them
  });
  admin.Disconnect();

  EXPECT_TRUE(IsError(admin.Get(expired.location), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_TRUE(IsError(admin.Patch(expired.location, "more"), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_FALSE(std::filesystem::exists(expired_data)) << "its bytes were left behind";
  EXPECT_EQ(admin.Get(young.location).status, 204);
  EXPECT_EQ(admin.Get(fresh.location).status, 204);
  EXPECT_NE(keepd.Messages().find("removed 1 expired upload sessions"), std::string::npos)
      << keepd.Messages();
}

TEST(ConfigBehaviourTest, GarbageCollectionPurgesUploadSessionsPastTheTtl) {
  constexpr long long kMargin = 15;  // seconds from expiry left at the restart
  KeepdProcess keepd(json{{"uploads", {{"ttl_hours", 1}}}});
  HttpsClient admin = keepd.AdminClient();
  Upload expiring = OpenUpload(admin, "ttl/app"), kept = OpenUpload(admin, "ttl/app");
  keepd.Restart(KeepdProcess::Stop::kGraceful,
                [&] { AgeUploadWhileStopped(keepd, expiring.id, 3600 - kMargin); });
  admin.Disconnect();
  ASSERT_EQ(admin.Get(expiring.location).status, 204)
      << "the session expired before keepd was back (the restart took over " << kMargin << " s)";

  // Collect until the session passes its hour; each run reports what it purged.
  int purged = 0;
  for (int run = 0; run < 4 * kMargin * 4 && purged == 0; ++run) {
    Response gc = admin.Post("/admin/v1/gc", "{}");
    ASSERT_EQ(gc.status, 200) << gc.body;
    purged = gc.Json().value("expired_uploads", -1);
    if (purged == 0) {
      EXPECT_EQ(admin.Get(expiring.location).status, 204) << "gone before GC said so";
      std::this_thread::sleep_for(250ms);
    }
  }
  EXPECT_EQ(purged, 1);
  EXPECT_TRUE(IsError(admin.Get(expiring.location), 404, "BLOB_UPLOAD_UNKNOWN"));
  EXPECT_EQ(admin.Get(kept.location).status, 204);
}

// --- gc.interval_hours ------------------------------------------------------

// A scheduled run is an hour away at the least; keepd says at start when the
// first is due, from the same setting its timer uses.
TEST(ConfigBehaviourTest, StartMessageGivesTheScheduledCollectionTime) {
  auto before = std::chrono::system_clock::now();
  KeepdProcess keepd(json{{"gc", {{"interval_hours", 5}}}});
  std::string line = keepd.MessageWhen("keepd: garbage collection every ");
  ASSERT_NE(line, "") << keepd.Messages();
  EXPECT_NE(line.find("every 5 hours; the first at "), std::string::npos) << line;
  std::tm tm{};
  const char* end = ::strptime(line.substr(line.rfind(' ') + 1).c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  ASSERT_TRUE(end != nullptr && *end == '\0') << line;
  auto first = std::chrono::system_clock::from_time_t(::timegm(&tm));
  auto due = before + std::chrono::hours(5);
  EXPECT_GT(first, due - 1min) << line;
  EXPECT_LT(first, due + 10min) << line;
}

TEST(ConfigBehaviourTest, ZeroIntervalMeansCollectionOnlyOnDemand) {
  KeepdProcess keepd(json{{"gc", {{"interval_hours", 0}}}});
  std::string line = keepd.MessageWhen("keepd: garbage collection runs only on demand");
  EXPECT_NE(line, "") << keepd.Messages();
  EXPECT_EQ(keepd.Messages().find("garbage collection every"), std::string::npos);
  HttpsClient admin = keepd.AdminClient();
  EXPECT_EQ(admin.Post("/admin/v1/gc", "{}").status, 200);
}

TEST(ConfigBehaviourTest, DefaultCollectionIntervalIsADay) {
  KeepdProcess keepd;
  EXPECT_NE(keepd.MessageWhen("keepd: garbage collection every 24 hours;"), "") << keepd.Messages();
}

// --- listen on IPv6 ---------------------------------------------------------

// Why ::1 cannot be listened on here, or "" when it can.
std::string Ipv6LoopbackProblem() {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return std::string("no IPv6 sockets: ") + std::strerror(errno);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  std::string problem;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    problem = std::string("cannot bind [::1]: ") + std::strerror(errno);
  }
  ::close(fd);
  return problem;
}

TEST(ConfigBehaviourTest, ListensOnIpv6Loopback) {
  std::string problem = Ipv6LoopbackProblem();
  ASSERT_EQ(problem, "") << "this machine has no IPv6 loopback, which this test needs "
                            "(enable IPv6 on lo: sysctl net.ipv6.conf.lo.disable_ipv6=0)";
  KeepdProcess keepd(json::object(), KeepdOptions{.host = "::1"});
  HttpsClient admin = keepd.AdminClient();
  EXPECT_EQ(admin.Get("/v2/").status, 200);
  const std::string url = "https://[::1]:" + std::to_string(keepd.port());
  EXPECT_NE(keepd.Messages().find("listening on " + url + " "), std::string::npos)
      << keepd.Messages();
  // The challenge names the host as the client sent it, brackets and all.
  Response challenge = keepd.AnonymousClient().Get("/v2/");
  EXPECT_EQ(challenge.Header("WWW-Authenticate"),
            "Bearer realm=\"" + url + "/token\",service=\"keep\"");
  // Only there: not on IPv4 as well.
  HttpsClient v4(keepd.port(), keepd.ca_file(), "127.0.0.1");
  EXPECT_FALSE(v4.TryConnect()) << "keepd listens on 127.0.0.1 too";
  keepd.Restart(KeepdProcess::Stop::kGraceful, [&] {
    auto log = keepd.RequestLog();
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log.front().value("remote", ""), "::1") << log.front().dump();
  });
}

// --- the request log --------------------------------------------------------

TEST(ConfigBehaviourTest, RequestLogLinesHaveTheDocumentedFields) {
  KeepdProcess keepd;
  HttpsClient admin = keepd.AdminClient(), anonymous = keepd.AnonymousClient();
  const std::string blob = "bytes whose request is logged";
  const double before = std::time(nullptr);
  Response pushed = admin.Post(UploadsPath("log/app") + "?digest=" + DigestOf(blob), blob);
  ASSERT_EQ(pushed.status, 201);
  Response got = admin.Get(BlobPath("log/app", DigestOf(blob)));
  ASSERT_EQ(got.status, 200);
  Response refused_response = anonymous.Get("/v2/");
  ASSERT_EQ(refused_response.status, 401);
  const double after = std::time(nullptr) + 1;

  // keepd writes a request's line once it has sent the answer, and a stop
  // does not wait for what is left of a request after that: the three
  // lines are waited for first (under load a stop right away lost the last).
  keepd.RequestLogWhen([](const std::vector<json>& lines) { return lines.size() >= 3; });
  keepd.Restart(KeepdProcess::Stop::kGraceful, [&] {
    auto log = keepd.RequestLog();
    ASSERT_EQ(log.size(), 3u);
    const std::set<std::string> documented = {"time",     "remote",    "method", "path", "status",
                                              "bytes_in", "bytes_out", "ms",     "user"};
    for (const auto& line : log) {
      std::set<std::string> keys;
      for (const auto& [key, value] : line.items()) keys.insert(key);
      EXPECT_EQ(keys, documented) << line.dump();
      ASSERT_TRUE(line["time"].is_number()) << line.dump();
      EXPECT_GE(line["time"].get<double>(), before) << line.dump();
      EXPECT_LE(line["time"].get<double>(), after) << line.dump();
      EXPECT_EQ(line["remote"], "127.0.0.1");
      EXPECT_TRUE(line["method"].is_string() && line["path"].is_string()) << line.dump();
      EXPECT_TRUE(line["status"].is_number_integer()) << line.dump();
      EXPECT_TRUE(line["bytes_in"].is_number_integer()) << line.dump();
      EXPECT_TRUE(line["bytes_out"].is_number_integer()) << line.dump();
      ASSERT_TRUE(line["ms"].is_number()) << line.dump();
      EXPECT_GE(line["ms"].get<double>(), 0);
      EXPECT_TRUE(line["user"].is_string()) << line.dump();
    }
    // A line is written once its answer is sent, so a request on another
    // connection (the anonymous one, served by another I/O thread) may be
    // logged before the one answered just ahead of it: lines are found by
    // what they record, not by their place.
    auto line_of = [&](int status) -> json {
      for (const auto& line : log)
        if (line["status"] == status) return line;
      ADD_FAILURE() << "no line with status " << status;
      return json::object();
    };
    const json push = line_of(201);
    EXPECT_EQ(push["method"], "POST");
    EXPECT_EQ(push["path"], UploadsPath("log/app")) << "the query is not part of the path";
    EXPECT_EQ(push["bytes_in"], blob.size());
    EXPECT_EQ(push["bytes_out"], pushed.body.size());
    EXPECT_EQ(push["user"], kAdminUser);
    const json pull = line_of(200);
    EXPECT_EQ(pull["method"], "GET");
    EXPECT_EQ(pull["path"], BlobPath("log/app", DigestOf(blob)));
    EXPECT_EQ(pull["bytes_in"], 0);
    EXPECT_EQ(pull["bytes_out"], blob.size());
    const json refused = line_of(401);
    EXPECT_EQ(refused["path"], "/v2/");
    EXPECT_EQ(refused["method"], "GET");
    EXPECT_EQ(refused["bytes_out"], refused_response.body.size());
    EXPECT_EQ(refused["user"], "") << "an anonymous request names no user";
  });
}

TEST(ConfigBehaviourTest, RequestLogOffWritesNothing) {
  KeepdProcess keepd(json{{"log", {{"requests", false}}}});
  HttpsClient admin = keepd.AdminClient();
  ASSERT_EQ(admin.Get("/v2/").status, 200);
  ASSERT_EQ(admin.Get("/v2/_catalog").status, 200);
  keepd.Restart(KeepdProcess::Stop::kGraceful, [&] { EXPECT_TRUE(keepd.RequestLog().empty()); });
}

}  // namespace
}  // namespace keep::testkit
