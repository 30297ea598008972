#include "tests/support/keepd_process.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kStartDeadline = 20s;
constexpr auto kStopDeadline = 10s;
constexpr int kLaunchAttempts = 5;

// A port free on `host` (an IPv4 or IPv6 loopback address) at this moment.
std::uint16_t FreeLoopbackPort(const std::string& host) {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (family == AF_INET) {
    auto* addr = reinterpret_cast<sockaddr_in*>(&storage);
    addr->sin_family = AF_INET;
    len = sizeof *addr;
    if (::inet_pton(AF_INET, host.c_str(), &addr->sin_addr) != 1) len = 0;
  } else {
    auto* addr = reinterpret_cast<sockaddr_in6*>(&storage);
    addr->sin6_family = AF_INET6;
    len = sizeof *addr;
    if (::inet_pton(AF_INET6, host.c_str(), &addr->sin6_addr) != 1) len = 0;
  }
  if (len == 0) throw std::runtime_error("not an IP address: " + host);
  auto* addr = reinterpret_cast<sockaddr*>(&storage);
  int fd = ::socket(family, SOCK_STREAM, 0);
  bool found = fd >= 0 && ::bind(fd, addr, len) == 0 && ::getsockname(fd, addr, &len) == 0;
  if (fd >= 0) ::close(fd);
  if (!found) {
    throw std::runtime_error("cannot find a free port on " + host + ": " + std::strerror(errno));
  }
  return ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
}

// `text` with every `name` replaced by `value`.
std::string ReplaceAll(std::string text, std::string_view name, const std::string& value) {
  for (auto at = text.find(name); at != std::string::npos;
       at = text.find(name, at + value.size())) {
    text.replace(at, name.size(), value);
  }
  return text;
}

fs::path MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/keep-integ-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  return templ;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Our environment without KEEP_* (which would override the config), plus the
// admin password and `extra`, whose entries replace those of the same name.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (std::string_view(*e).rfind("KEEP_", 0) != 0) env.emplace_back(*e);
  }
  env.push_back(std::string("KEEP_ADMIN_PASSWORD=") + kAdminPassword);
  if (const char* pw = std::getenv("KEEP_TEST_POSTGRES_PASSWORD")) {
    env.push_back(std::string("KEEP_POSTGRES_PASSWORD=") + pw);
  }
  for (const auto& entry : extra) {
    std::string name = entry.substr(0, entry.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.rfind(name, 0) == 0; });
    env.push_back(entry);
  }
  return env;
}

// `chosen`, else the keepd built with the tests, unless KEEP_TEST_KEEPD names another binary.
std::string KeepdBinary(const fs::path& chosen) {
  if (!chosen.empty()) return chosen.string();
  const char* other = std::getenv("KEEP_TEST_KEEPD");
  return other && *other ? other : KEEPD_PATH;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

pid_t Spawn(std::vector<std::string> argv, const std::vector<std::string>& extra_env,
            const fs::path& out, const fs::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  auto env = ChildEnvironment(extra_env);
  auto argp = Pointers(argv);
  auto envp = Pointers(env);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// True once the child is gone (and reaped); its wait status in *status.
bool Exited(pid_t pid, int* status = nullptr) {
  int ignored = 0;
  return ::waitpid(pid, status ? status : &ignored, WNOHANG) == pid;
}

std::string Describe(int status) {
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

KeepdProcess::KeepdProcess(nlohmann::json extra_config)
    : KeepdProcess(std::move(extra_config), nullptr, KeepdOptions{}) {}

KeepdProcess::KeepdProcess(nlohmann::json extra_config, KeepdOptions options)
    : KeepdProcess(std::move(extra_config), nullptr, std::move(options)) {}

KeepdProcess::KeepdProcess(nlohmann::json extra_config,
                           const std::function<void(const fs::path&)>& prepare,
                           KeepdOptions options)
    : dir_(MakeTempDir()), extra_config_(std::move(extra_config)), options_(std::move(options)) {
  // KEEP_TEST_POSTGRES (libpq's connection string) runs every keepd on
  // PostgreSQL instead of SQLite, each in a schema of its own.
  if (const char* pg = std::getenv("KEEP_TEST_POSTGRES"); pg != nullptr && *pg != '\0') {
    postgres_schema_ = "t_";
    for (char c : dir_.filename().string()) {
      if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
        postgres_schema_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
  }
  if (prepare) prepare(data_dir());
  for (int attempt = 0; attempt < kLaunchAttempts; ++attempt) {
    // Another process may take the port between our probe and keepd's bind.
    port_ = FreeLoopbackPort(options_.host);
    if (Launch()) return;
    if (Messages().find("cannot listen") == std::string::npos) break;
  }
  throw std::runtime_error("keepd did not start (" + Describe(last_exit_) + "):\n" + Messages());
}

KeepdProcess::~KeepdProcess() {
  Terminate(Stop::kGraceful);
  if (::testing::Test::HasFailure()) {
    std::cerr << "keepd's data and logs are kept in " << dir_ << "\n--- keepd stderr ---\n"
              << Messages() << "--- end of keepd stderr ---\n";
    return;
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void KeepdProcess::WriteConfig() const {
  const std::string& host = options_.host;
  std::string address = host.find(':') == std::string::npos ? host : "[" + host + "]";
  // A stop waits at most 2 s for requests in flight (a test that stops
  // keepd under a stalled client should not wait the default 10 s).
  nlohmann::json config = {{"listen", address + ":" + std::to_string(port_)},
                           {"data_dir", data_dir().string()},
                           {"timeouts", {{"stop_seconds", 2}}}};
  if (!postgres_schema_.empty()) {
    config["metadata"] = {
        {"driver", "postgres"},
        {"postgres",
         {{"conninfo", std::getenv("KEEP_TEST_POSTGRES")}, {"schema", postgres_schema_}}}};
  }
  config.merge_patch(extra_config_);
  std::ofstream(dir_ / "config.json") << config.dump(2);
}

bool KeepdProcess::plain() const {
  auto tls = extra_config_.find("tls");
  if (tls == extra_config_.end() || !tls->is_object()) return false;
  auto enabled = tls->find("enabled");
  return enabled != tls->end() && enabled->is_boolean() && !enabled->get<bool>();
}

bool KeepdProcess::Launch() {
  WriteConfig();
  std::vector<std::string> argv = options_.launcher;
  argv.push_back(KeepdBinary(options_.binary));
  argv.push_back("--config");
  argv.push_back((dir_ / "config.json").string());
  if (options_.allow_root_flag) argv.push_back("--allow-root");
  std::vector<std::string> environment;
  for (const auto& entry : options_.environment) {
    environment.push_back(ReplaceAll(ReplaceAll(entry, "{port}", std::to_string(port_)),
                                     "{data_dir}", data_dir().string()));
  }
  pid_ = Spawn(argv, environment, dir_ / "stdout.log", dir_ / "stderr.log");
  auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Exited(pid_, &last_exit_)) {
      pid_ = -1;
      return false;
    }
    bool ready = plain() ? Messages().find("keepd: listening on http://") != std::string::npos
                         : fs::exists(ca_file());
    if (ready && AnonymousClient().TryConnect()) return true;
    std::this_thread::sleep_for(20ms);
  }
  Terminate(Stop::kCrash);
  throw std::runtime_error("keepd did not accept TLS connections within the deadline:\n" +
                           Messages());
}

void KeepdProcess::Terminate(Stop how) {
  if (pid_ <= 0) return;
  if (int status = 0; Exited(pid_, &status)) {
    ADD_FAILURE() << "keepd died during the test: " << Describe(status);
    pid_ = -1;
    return;
  }
  ::kill(pid_, how == Stop::kGraceful ? SIGTERM : SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + kStopDeadline;
  int status = 0;
  while (!Exited(pid_, &status)) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "keepd ignored SIGTERM for " << kStopDeadline.count() << "s; killing it";
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  // Stopped gracefully, keepd exits 0; anything else (a sanitizer's report of
  // a leak at exit, a crash while shutting down) is a failure of the test.
  if (how == Stop::kGraceful && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    ADD_FAILURE() << "keepd did not exit cleanly on SIGTERM: " << Describe(status);
  }
  pid_ = -1;
}

void KeepdProcess::Restart(Stop how) { Restart(how, nullptr); }

void KeepdProcess::Restart(Stop how, const std::function<void()>& while_stopped) {
  Terminate(how);
  if (while_stopped) while_stopped();
  if (!Launch()) {
    throw std::runtime_error("keepd did not restart (" + Describe(last_exit_) + "):\n" +
                             Messages());
  }
}

bool KeepdProcess::running() const {
  // WNOWAIT leaves a dead child to be reaped (and reported) by Terminate.
  siginfo_t info{};
  return pid_ > 0 && ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

HttpsClient KeepdProcess::AdminClient() const {
  HttpsClient client = AnonymousClient();
  client.SetBasicAuth(kAdminUser, kAdminPassword);
  return client;
}

HttpsClient KeepdProcess::AnonymousClient() const {
  return HttpsClient(port_, plain() ? std::string() : ca_file(), options_.host);
}

std::vector<nlohmann::json> KeepdProcess::RequestLog() const {
  std::vector<nlohmann::json> lines;
  std::istringstream in(ReadFile(dir_ / "stdout.log"));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(std::move(j));
  }
  return lines;
}

std::vector<nlohmann::json> KeepdProcess::RequestLogWhen(
    const std::function<bool(const std::vector<nlohmann::json>&)>& done,
    std::chrono::milliseconds wait) const {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<nlohmann::json> log = RequestLog();
  while (!done(log) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log = RequestLog();
  }
  return log;
}

nlohmann::json KeepdProcess::LoggedRequest(std::string_view method, std::string_view path,
                                           std::size_t nth, std::chrono::milliseconds wait) const {
  nlohmann::json found;
  RequestLogWhen(
      [&](const std::vector<nlohmann::json>& log) {
        std::size_t seen = 0;
        for (const auto& line : log) {
          if ((method.empty() || line.value("method", "") == method) &&
              line.value("path", "") == path && ++seen == nth) {
            found = line;
            return true;
          }
        }
        return false;
      },
      wait);
  return found;
}

std::string KeepdProcess::Messages() const { return ReadFile(dir_ / "stderr.log"); }

std::string KeepdProcess::MessageWhen(const std::string& text,
                                      std::chrono::milliseconds wait) const {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    std::string messages = Messages();
    if (auto at = messages.find(text); at != std::string::npos) {
      return messages.substr(at, messages.find('\n', at) - at);
    }
    if (std::chrono::steady_clock::now() >= deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string KeepdBinary() { return KeepdBinary(fs::path()); }

namespace {

// Runs sql on keepd's metadata database: the rows of its last statement
// into `rows` (when given), and the rows that statement changed returned.
long long OnMetadata(const KeepdProcess& keepd, const std::string& sql,
                     std::vector<std::vector<std::string>>* rows) {
  if (keepd.postgres_schema().empty()) {
    EXPECT_FALSE(keepd.running())
        << "keepd's SQLite database is opened only while keepd is stopped";
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2((keepd.data_dir() / "metadata.db").c_str(), &db,
                              SQLITE_OPEN_READWRITE, nullptr),
              SQLITE_OK);
    char* error = nullptr;
    auto collect = [](void* out, int n, char** values, char**) {
      auto* table = static_cast<std::vector<std::vector<std::string>>*>(out);
      if (table == nullptr) return 0;
      auto& row = table->emplace_back();
      for (int c = 0; c < n; ++c) row.emplace_back(values[c] != nullptr ? values[c] : "");
      return 0;
    };
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), collect, rows, &error), SQLITE_OK)
        << (error ? error : "") << " in: " << sql;
    sqlite3_free(error);
    long long changes = sqlite3_changes(db);
    sqlite3_close(db);
    return changes;
  }
  const char* keys[] = {"dbname", "password", nullptr};
  const char* values[] = {std::getenv("KEEP_TEST_POSTGRES"),
                          std::getenv("KEEP_TEST_POSTGRES_PASSWORD"), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  std::string text = "SET search_path TO \"" + keepd.postgres_schema() + "\"; " + sql;
  PGresult* r = PQexec(conn, text.c_str());
  auto status = PQresultStatus(r);
  EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
      << PQresultErrorMessage(r) << " in: " << sql;
  if (rows != nullptr && status == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); ++i) {
      auto& row = rows->emplace_back();
      for (int c = 0; c < PQnfields(r); ++c) row.emplace_back(PQgetvalue(r, i, c));
    }
  }
  const char* n = PQcmdTuples(r);
  long long changes = n[0] != '\0' ? std::atoll(n) : 0;
  PQclear(r);
  PQfinish(conn);
  return changes;
}

}  // namespace

long long RunMetadataSql(const KeepdProcess& keepd, const std::string& sql) {
  return OnMetadata(keepd, sql, nullptr);
}

std::vector<std::vector<std::string>> QueryMetadata(const KeepdProcess& keepd,
                                                    const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  OnMetadata(keepd, sql, &rows);
  return rows;
}

}  // namespace keep::testkit
