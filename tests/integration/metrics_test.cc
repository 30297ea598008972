// GET /metrics: the Prometheus text format (0.0.4) read by a strict parser
// of its grammar, the counters moved by what was done, who may read it (admins,
// the scraper's credential from metrics.token_file, anyone on the plain
// metrics.listen port), and a label set that stays bounded whatever paths
// clients send.
#include "tests/integration/exposition.h"
#include "tests/support/keepd_test.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// GET /metrics with the client's credentials, parsed (failing the test on
// a status other than 200 or a text that does not parse).
Exposition Scrape(HttpsClient& client, Headers headers = {}) {
  Response r = client.Get("/metrics", std::move(headers));
  Exposition e;
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");
  EXPECT_TRUE(Parse(r.body, e)) << r.body;
  return e;
}

using MetricsTest = KeepdTest;

TEST(MetricsParserTest, RefusesWhatTheGrammarDoesNot) {
  Exposition e;
  EXPECT_TRUE(
      Parse("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1 123\n", e));
  EXPECT_EQ(e.samples.at(0).labels.at("x"), "q\"\\\n");
  for (const char* bad : {
           "a 1",                                                 // no final line feed
           "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} one\n",       // value
           "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",             // unquoted
           "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",       // escape
           "# HELP a A.\n# TYPE a gauge\na{1x=\"\"} 1\n",         // label name
           "# HELP a A.\n# TYPE a gauge\na 1\n# TYPE a gauge\n",  // TYPE twice
           "a 1\n# HELP a A.\n# TYPE a gauge\n",                  // sample first
           "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na 1\nb 1\na{x=\"\"} 2\n",
           "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
           "h_sum 1\nh_count 1\n",  // not cumulative
           "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
           "h_sum 1\nh_count 3\n",  // _count is not +Inf
       }) {
    Exposition x;
    EXPECT_FALSE(Parse(bad, x)) << bad;
  }
}

// Push an image, pull it, refuse a push, leave an upload open: one scrape
// (the first of this keepd, so that the storage figures are read) shows it.
TEST_F(MetricsTest, CountsWhatWasDoneInTheTextFormat) {
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"tight"})").status, 201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/tight/policy", R"({"mode":"strict"})").status, 200);

  const std::string layer(300 * 1024, 'L');
  Manifest image = PushImage(client_, "acme/app", "v1", {.layer = layer});
  Response pulled = client_.Get(ManifestPath("acme/app", "v1"), {{"Accept", image.media_type}});
  ASSERT_EQ(pulled.status, 200);
  Response blob = client_.Get(BlobPath("acme/app", DigestOf(layer)));
  ASSERT_EQ(blob.status, 200);
  ASSERT_EQ(blob.body.size(), layer.size());
  // A strict namespace refuses an unsigned push: a trust refusal.
  Manifest unsigned_image = PrepareImage(client_, "tight/app", {.layer = "another layer"});
  EXPECT_EQ(StatusAndCode(PutManifest(client_, "tight/app", "v1", unsigned_image)), "403 DENIED");
  StartUpload(client_, "acme/app");  // left open

  Exposition e = Scrape(client_);
  // Every family is Keep's, and counters end in _total.
  for (const auto& [family, type] : e.types) {
    EXPECT_EQ(family.rfind("keep_", 0), 0u) << family;
    if (type == "counter") {
      EXPECT_TRUE(family.size() > 6 && family.substr(family.size() - 6) == "_total") << family;
    }
  }
  EXPECT_EQ(e.Count("keep_http_requests_total",
                    {{"route", "manifest"}, {"method", "PUT"}, {"code", "201"}}),
            1);
  EXPECT_EQ(e.Count("keep_http_requests_total",
                    {{"route", "manifest"}, {"method", "PUT"}, {"code", "403"}}),
            1);
  EXPECT_EQ(e.Count("keep_http_requests_total",
                    {{"route", "manifest"}, {"method", "GET"}, {"code", "200"}}),
            1);
  EXPECT_EQ(
      e.Count("keep_http_requests_total", {{"route", "blob"}, {"method", "GET"}, {"code", "200"}}),
      1);
  EXPECT_EQ(e.Count("keep_http_requests_total",
                    {{"route", "upload"}, {"method", "POST"}, {"code", "202"}}),
            1);
  EXPECT_GE(e.Count("keep_http_response_bytes_total", {{"route", "blob"}}), layer.size());
  EXPECT_GE(e.Count("keep_http_request_bytes_total", {{"route", "upload"}}), layer.size());
  EXPECT_GE(e.Count("keep_http_request_bytes_total", {{"route", "manifest"}}), image.bytes.size());
  EXPECT_GE(e.Count("keep_http_request_duration_seconds_count", {{"route", "manifest"}}), 3);
  EXPECT_GT(e.Count("keep_http_request_duration_seconds_sum", {{"route", "blob"}}), 0);
  // The trust decisions: the push held in quarantine, the strict refusal,
  // and the admin (who may push there) served all.
  EXPECT_EQ(
      e.Count("keep_trust_decisions_total", {{"decision", "refused"}, {"reason", "quarantined"}}),
      1);
  EXPECT_EQ(e.Count("keep_trust_decisions_total",
                    {{"decision", "refused"}, {"reason", "strict_unsigned"}}),
            1);
  EXPECT_EQ(
      e.Count("keep_trust_decisions_total", {{"decision", "allowed"}, {"reason", "publisher"}}), 2);
  EXPECT_EQ(
      e.Find("keep_trust_decisions_total", {{"decision", "refused"}, {"reason", "unsigned_blob"}}),
      0)
      << "every reason is listed, counted or not";
  EXPECT_EQ(
      e.Find("keep_signature_verifications_total", {{"format", "cosign"}, {"result", "failed"}}),
      0);
  // The gauges.
  EXPECT_EQ(e.Find("keep_uploads_in_progress"), 1);
  EXPECT_GE(e.Count("keep_storage_used_bytes"), layer.size() + image.bytes.size());
  EXPECT_GE(e.Count("keep_open_connections"), 1);
  EXPECT_GT(e.Count("keep_start_time_seconds"), 1.7e9);
  EXPECT_EQ(e.SeriesOf("keep_build_info"), 1u);
  EXPECT_EQ(e.Find("keep_gc_runs_total", {{"result", "ok"}}), 0);

  // A garbage collection counts as a run; the scrape itself was counted.
  ASSERT_EQ(client_.Post("/admin/v1/gc", "{}").status, 200);
  Exposition after = Scrape(client_);
  EXPECT_EQ(after.Count("keep_gc_runs_total", {{"result", "ok"}}), 1);
  EXPECT_GT(after.Count("keep_gc_last_success_timestamp_seconds"), 1.7e9);
  EXPECT_EQ(after.Count("keep_http_requests_total",
                        {{"route", "metrics"}, {"method", "GET"}, {"code", "200"}}),
            1);
}

// A reader of a namespace asks for an unsigned image: refused, and counted
// with its reason.
TEST_F(MetricsTest, CountsATrustRefusalOfAReader) {
  ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"acme"})").status, 201);
  ASSERT_EQ(
      client_.Post("/admin/v1/users", R"({"name":"alice","password":"password-of-alice"})").status,
      201);
  ASSERT_EQ(client_.Put("/admin/v1/namespaces/acme/members/alice", R"({"role":"reader"})").status,
            200);
  Manifest image = PushImage(client_, "acme/app", "v1", {.layer = "quarantined layer"});
  HttpsClient alice = keepd_.AnonymousClient();
  alice.SetBasicAuth("alice", "password-of-alice");
  EXPECT_EQ(
      StatusAndCode(alice.Get(ManifestPath("acme/app", "v1"), {{"Accept", image.media_type}})),
      "403 DENIED");
  EXPECT_EQ(StatusAndCode(alice.Get(BlobPath("acme/app", DigestOf("quarantined layer")))),
            "403 DENIED");
  Exposition e = Scrape(client_);
  EXPECT_EQ(e.Count("keep_trust_decisions_total",
                    {{"decision", "refused"}, {"reason", "unsigned_manifest"}}),
            1);
  EXPECT_EQ(
      e.Count("keep_trust_decisions_total", {{"decision", "refused"}, {"reason", "unsigned_blob"}}),
      1);
  EXPECT_EQ(e.Count("keep_http_requests_total",
                    {{"route", "manifest"}, {"method", "GET"}, {"code", "403"}}),
            1);
}

TEST_F(MetricsTest, OnlyAdminsWithoutATokenFile) {
  HttpsClient anonymous = keepd_.AnonymousClient();
  Response r = anonymous.Get("/metrics");
  EXPECT_TRUE(IsError(r, 401, "UNAUTHORIZED")) << r.body;
  EXPECT_EQ(r.Header("WWW-Authenticate").rfind("Bearer realm=", 0), 0u)
      << r.Header("WWW-Authenticate");
  EXPECT_EQ(r.body.find("keep_"), std::string::npos);
  // Any bearer credential is a token to check, and fails.
  EXPECT_EQ(anonymous.Get("/metrics", {{"Authorization", "Bearer anything"}}).status, 401);

  ASSERT_EQ(
      client_.Post("/admin/v1/users", R"({"name":"bob","password":"password-of-bob"})").status,
      201);
  HttpsClient bob = keepd_.AnonymousClient();
  bob.SetBasicAuth("bob", "password-of-bob");
  EXPECT_EQ(StatusAndCode(bob.Get("/metrics")), "403 DENIED");
  HttpsClient wrong = keepd_.AnonymousClient();
  wrong.SetBasicAuth(kAdminUser, "not-the-password");
  EXPECT_EQ(wrong.Get("/metrics").status, 401);
  Scrape(client_);
  // Only GET.
  EXPECT_EQ(client_.Post("/metrics", "").status, 405);
}

// A file the test owns, outside keepd's data directory.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/keep-metrics-token-XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    if (fd >= 0) ::close(fd);
    path_ = name;
    std::ofstream(path_) << content;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const char* kScraperToken = "3f1c0a9e8d7b6c5a4f3e2d1c0b9a8f7e";

class MetricsTokenTest : public ::testing::Test {
 protected:
  TempFile token_{std::string(kScraperToken) + "\n"};
  KeepdProcess keepd_{json{{"metrics", {{"token_file", token_.path().string()}}}}};
  HttpsClient client_ = keepd_.AnonymousClient();
};

TEST_F(MetricsTokenTest, TheScraperCredentialOpensMetricsAndNothingElse) {
  Exposition e = Scrape(client_, {{"Authorization", std::string("Bearer ") + kScraperToken}});
  EXPECT_GE(e.types.size(), 10u);
  for (const std::string& wrong :
       {std::string("Bearer ") + kScraperToken + "0",
        std::string("Bearer ") + std::string(kScraperToken).substr(1), std::string("Bearer x"),
        std::string("Basic ") + kScraperToken}) {
    SCOPED_TRACE(wrong);
    Response r = client_.Get("/metrics", {{"Authorization", wrong}});
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.body.find("keep_http"), std::string::npos);
  }
  EXPECT_EQ(client_.Get("/v2/", {{"Authorization", std::string("Bearer ") + kScraperToken}}).status,
            401);
  EXPECT_EQ(
      client_.Get("/admin/v1/users", {{"Authorization", std::string("Bearer ") + kScraperToken}})
          .status,
      401);
  // The admin still may.
  HttpsClient admin = keepd_.AdminClient();
  Scrape(admin);
}

// keepd with `config`: its exit status and what it printed, when it exits
// within a few seconds (it should, refusing to start).
std::pair<int, std::string> StartRefused(const json& config) {
  TempFile file(config.dump());
  std::string command = "timeout -s KILL 20 '" + KeepdBinary() + "' --config '" +
                        file.path().string() + "'" + (::geteuid() == 0 ? " --allow-root" : "") +
                        " 2>&1 </dev/null";
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return {-1, ""};
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(MetricsConfigTest, AnUnreadableOrEmptyTokenFileStopsTheStart) {
  fs::path dir = fs::temp_directory_path() / ("keep-metrics-config-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  TempFile empty(" \n");
  json config = {{"listen", "127.0.0.1:0"},
                 {"data_dir", (dir / "data").string()},
                 {"metrics", {{"token_file", empty.path().string()}}}};
  auto [status, out] = StartRefused(config);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("metrics.token_file: " + empty.path().string() + " is empty"),
            std::string::npos)
      << out;
  config["metrics"]["token_file"] = (dir / "missing").string();
  std::tie(status, out) = StartRefused(config);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("metrics.token_file: cannot read " + (dir / "missing").string()),
            std::string::npos)
      << out;
  config["metrics"] = {{"listen", "nowhere"}};
  std::tie(status, out) = StartRefused(config);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("\"metrics.listen\""), std::string::npos) << out;
  config["metrics"] = {{"scrape", true}};
  std::tie(status, out) = StartRefused(config);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("\"metrics.scrape\" is not a known setting"), std::string::npos) << out;
  fs::remove_all(dir);
}

// One plain HTTP/1.1 exchange with the metrics listener: status and body.
std::pair<int, std::string> PlainGet(std::uint16_t port, const std::string& target,
                                     const std::string& method = "GET") {
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket socket(ioc);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string request =
      method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  std::string answer;
  boost::system::error_code ec;
  char buf[4096];
  for (std::size_t n; (n = socket.read_some(asio::buffer(buf), ec)) > 0 || !ec;)
    answer.append(buf, n);
  int status = answer.size() > 12 ? std::atoi(answer.substr(9, 3).c_str()) : 0;
  auto body = answer.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : answer.substr(body + 4)};
}

class MetricsListenerTest : public ::testing::Test {
 protected:
  KeepdProcess keepd_{json{{"metrics", {{"listen", "127.0.0.1:0"}}}}};

  std::uint16_t Port() const {
    std::smatch m;
    std::string messages = keepd_.Messages();
    static const std::regex kServing(R"(without credentials on http://127\.0\.0\.1:([0-9]+))");
    if (!std::regex_search(messages, m, kServing)) return 0;
    return static_cast<std::uint16_t>(std::stoi(m[1]));
  }
};

TEST_F(MetricsListenerTest, ServesMetricsAndHealthWithoutCredentialsAndNothingElse) {
  std::uint16_t port = Port();
  ASSERT_NE(port, 0) << keepd_.Messages();
  auto [status, body] = PlainGet(port, "/metrics");
  EXPECT_EQ(status, 200) << body;
  Exposition e;
  EXPECT_TRUE(Parse(body, e)) << body;
  EXPECT_TRUE(e.types.count("keep_http_requests_total"));
  EXPECT_EQ(PlainGet(port, "/healthz"), std::make_pair(200, std::string(R"({"status":"ok"})")));
  EXPECT_EQ(PlainGet(port, "/readyz").first, 200);
  EXPECT_EQ(PlainGet(port, "/v2/").first, 404);
  EXPECT_EQ(PlainGet(port, "/admin/v1/users").first, 404);
  EXPECT_EQ(PlainGet(port, "/metrics", "POST").first, 405);
  // The HTTPS port still asks for credentials.
  EXPECT_EQ(keepd_.AnonymousClient().Get("/metrics").status, 401);
  // What it answered is counted too.
  auto [again, text] = PlainGet(port, "/metrics");
  Exposition later;
  ASSERT_TRUE(Parse(text, later)) << text;
  EXPECT_EQ(later.Count("keep_http_requests_total",
                        {{"route", "metrics"}, {"method", "GET"}, {"code", "200"}}),
            1);
  EXPECT_EQ(later.Count("keep_http_requests_total",
                        {{"route", "health"}, {"method", "GET"}, {"code", "200"}}),
            2);
}

// Many distinct paths, repository names and methods: the label set stays
// what the route table makes it, and no label carries what a client sent.
TEST_F(MetricsTest, LabelsStayBoundedWhateverPathsClientsSend) {
  auto hammer = [&](const std::string& tag) {
    for (int i = 0; i < 150; ++i) {
      std::string n = tag + std::to_string(i);
      client_.Get("/v2/zz" + n + "/manifests/zz" + n);
      client_.Get("/v2/zz" + n + "/blobs/sha256:" + std::string(64, 'a'));
      client_.Get("/zz" + n);
      client_.Get("/admin/v1/users/zz" + n);
      client_.Send({http::verb::options, "/v2/zz" + n + "/tags/list"});
      client_.Get("/v2/zz" + n + "/../etc/zz\"quote\\" + n);
    }
  };
  hammer("a");
  Exposition first = Scrape(client_);
  hammer("b");
  Exposition second = Scrape(client_);
  // The second round added no series but those of the first scrape itself.
  auto series = [](const Exposition& e) {
    std::set<std::string> keys;
    for (const Sample& s : e.samples) {
      auto route = s.labels.find("route");
      if (route != s.labels.end() && route->second == "metrics") continue;
      std::string key = s.name;
      for (const auto& [k, v] : s.labels) key += "," + k + "=" + v;
      keys.insert(key);
    }
    return keys;
  };
  EXPECT_EQ(series(first), series(second));
  // ... though every request of the second round was counted.
  auto total = [](const Exposition& e) {
    double n = 0;
    for (const Sample& s : e.samples) n += s.name == "keep_http_requests_total" ? s.value : 0;
    return n;
  };
  EXPECT_GE(total(second) - total(first), 6 * 150) << "first " << total(first);
  EXPECT_LE(second.SeriesOf("keep_http_requests_total"), 20u);
  for (const Sample& s : second.samples) {
    for (const auto& [k, v] : s.labels) {
      EXPECT_EQ(v.find("zz"), std::string::npos) << s.name << " " << k << "=" << v;
    }
  }
  EXPECT_LE(second.samples.size(), 400u);
}

}  // namespace
}  // namespace keep::testkit
