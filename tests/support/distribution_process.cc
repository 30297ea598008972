#include "tests/support/distribution_process.h"

#include "tests/support/registry.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kStartDeadline = 20s;
constexpr auto kStopDeadline = 10s;

std::string RegistryBinary() {
  const char* other = std::getenv("KEEP_TEST_DOCKER_REGISTRY");
  return other && *other ? other : "/usr/bin/docker-registry";
}

fs::path MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/keep-dist-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  return templ;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts argv with stdin from /dev/null and stdout and stderr appended to `log`.
pid_t Spawn(std::vector<std::string> argv, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

bool Exited(pid_t pid) {
  int ignored = 0;
  return ::waitpid(pid, &ignored, WNOHANG) == pid;
}

// "/v2/...?..." of a Location header, which Distribution makes absolute.
std::string PathOf(const std::string& location) {
  auto scheme = location.find("://");
  if (scheme == std::string::npos) return location;
  auto path = location.find('/', scheme + 3);
  return path == std::string::npos ? "/" : location.substr(path);
}

}  // namespace

void MakeSelfSignedCertificate(const fs::path& cert, const fs::path& key, const std::string& ip) {
  fs::path log = cert.string() + ".openssl.log";
  pid_t pid =
      Spawn({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=" + ip, "-addext", "subjectAltName=IP:" + ip,
             "-keyout", key.string(), "-out", cert.string()},
            log);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("openssl could not make a certificate:\n" + ReadFile(log));
  }
}

std::uint16_t FreeLoopbackPort() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  bool found = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
               ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0) ::close(fd);
  if (!found) throw std::runtime_error(std::string("no free port: ") + std::strerror(errno));
  return ntohs(addr.sin_port);
}

DistributionProcess::DistributionProcess() : dir_(MakeTempDir()) {
  MakeSelfSignedCertificate(dir_ / "server.crt", dir_ / "server.key");
  port_ = FreeLoopbackPort();
  std::ofstream(dir_ / "config.yml")
      << "version: 0.1\n"
      << "log: {level: info, accesslog: {disabled: false}}\n"
      << "storage: {filesystem: {rootdirectory: " << (dir_ / "storage").string()
      << "}, delete: {enabled: true}}\n"
      << "http: {addr: 127.0.0.1:" << port_ << ", tls: {certificate: " << ca_file()
      << ", key: " << (dir_ / "server.key").string() << "}}\n";
  pid_ = Spawn({RegistryBinary(), "serve", (dir_ / "config.yml").string()}, dir_ / "registry.log");
  auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Exited(pid_)) {
      pid_ = -1;
      throw std::runtime_error("docker-registry exited while starting:\n" + Log());
    }
    if (Client().TryConnect()) return;
    std::this_thread::sleep_for(20ms);
  }
  Stop();
  throw std::runtime_error("docker-registry did not accept TLS connections in time:\n" + Log());
}

DistributionProcess::~DistributionProcess() {
  Stop();
  if (::testing::Test::HasFailure()) {
    std::cerr << "docker-registry's data and log are kept in " << dir_
              << "\n--- docker-registry log ---\n"
              << Log() << "--- end of docker-registry log ---\n";
    return;
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void DistributionProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + kStopDeadline;
  while (!Exited(pid_)) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  pid_ = -1;
}

std::string DistributionProcess::Log() const { return ReadFile(dir_ / "registry.log"); }

std::string UploadBlob(HttpsClient& client, std::string_view repo, std::string_view bytes) {
  std::string digest = DigestOf(bytes);
  std::string target = PathOf(StartUpload(client, repo));
  target += (target.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  Response r =
      client.Put(target, std::string(bytes), {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(r.status, 201) << "uploading a blob to " << repo << ": " << r.body;
  return digest;
}

}  // namespace keep::testkit
