// keepd confines itself (server/confine.h): no_new_privs and a seccomp
// filter on every thread once it has started, forbidden calls failing with
// EPERM or killing it with SIGSYS, and, started as root with `user`, a
// privileged port bound before it becomes that user. The forbidden calls
// are made by keepd-test's hook (KEEPD_TEST_FORBIDDEN_CALLS), on a thread
// that existed before the filter was installed.
#include "server/confine.h"
#include "tests/support/keepd_process.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

extern char** environ;

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The "Name:\tvalue" lines of /proc/<pid>/status.
std::map<std::string, std::string> ProcStatus(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    fields[line.substr(0, colon)] = value;
  }
  return fields;
}

// A push and a pull over TLS: an image in an open namespace, then its
// manifest by tag and its layer by digest.
void PushAndPull(HttpsClient& client, const std::string& repo) {
  const std::string ns = repo.substr(0, repo.find('/'));
  ASSERT_EQ(client.Post("/admin/v1/namespaces", nlohmann::json{{"name", ns}}.dump()).status, 201);
  ASSERT_EQ(client.Put("/admin/v1/namespaces/" + ns + "/policy", R"({"mode":"open"})").status, 200);
  const std::string layer = "a layer pushed to a confined keepd";
  Manifest pushed = PushImage(client, repo, "v1", {.layer = layer});
  auto manifest = client.Get(ManifestPath(repo, "v1"), {{"Accept", mt::kOciManifest}});
  EXPECT_EQ(manifest.status, 200);
  EXPECT_EQ(manifest.body, pushed.bytes);
  auto blob = client.Get(BlobPath(repo, DigestOf(layer)));
  EXPECT_EQ(blob.status, 200);
  EXPECT_EQ(blob.body, layer);
}

// Waits for keepd's stderr to hold `text`.
bool SaysSoon(const KeepdProcess& keepd, const std::string& text) {
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
    if (keepd.Messages().find(text) != std::string::npos) return true;
  }
  return false;
}

// The pid of the keepd a KeepdProcess started: the process whose command
// line names its config file (next to its data directory).
pid_t PidOf(const KeepdProcess& keepd) {
  const std::string config = (keepd.data_dir().parent_path() / "config.json").string();
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream args(cmdline);
    for (std::string arg; std::getline(args, arg, '\0');) {
      if (arg == config) return static_cast<pid_t>(std::stoi(name));
    }
  }
  ADD_FAILURE() << "no process runs with " << config;
  return -1;
}

// A keepd started here by hand, where KeepdProcess does not fit (a port of
// our choosing, a keepd that is to die): config and logs in a directory of
// its own, which others may traverse (keepd may run as another user).
class HandStartedKeepd {
 public:
  // prepare(data_dir), when given, runs before keepd starts.
  HandStartedKeepd(const nlohmann::json& config, const std::string& binary,
                   std::vector<std::string> args, const std::vector<std::string>& environment,
                   const std::function<void(const fs::path&)>& prepare = nullptr)
      : dir_(fs::temp_directory_path() /
             ("keep-confine-" + std::to_string(::getpid()) + "-" + std::to_string(++count_))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::chmod(dir_.c_str(), 0711);
    if (prepare) prepare(data_dir());
    nlohmann::json full = {{"data_dir", data_dir().string()}};
    full.merge_patch(config);
    std::ofstream(dir_ / "config.json") << full.dump();
    args.insert(args.begin(), {binary, "--config", (dir_ / "config.json").string()});
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    env_strings.emplace_back(std::string("KEEP_ADMIN_PASSWORD=") + kAdminPassword);
    for (const auto& e : environment) env_strings.push_back(e);
    std::vector<char*> envp;
    envp.reserve(env_strings.size() + 1);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_ / "stderr.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + binary);
  }
  ~HandStartedKeepd() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGTERM);
      Wait(15s);
      if (!exited_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
      }
    }
    if (::testing::Test::HasFailure()) {
      std::cerr << "keepd's data and logs are kept in " << dir_ << "\n--- keepd stderr ---\n"
                << Messages() << "--- end of keepd stderr ---\n";
    } else {
      fs::remove_all(dir_);
    }
  }
  HandStartedKeepd(const HandStartedKeepd&) = delete;
  HandStartedKeepd& operator=(const HandStartedKeepd&) = delete;

  // True once keepd says it listens; false if it exits first or takes too long.
  bool WaitUntilListening() {
    for (auto deadline = std::chrono::steady_clock::now() + 30s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
      if (Messages().find("keepd: listening on") != std::string::npos) return true;
      if (Wait(0ms)) return false;
    }
    return false;
  }
  // True once keepd has exited (its wait status in status()), within `limit`.
  bool Wait(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exited_) {
      exited_ = ::waitpid(pid_, &status_, WNOHANG) == pid_;
      if (exited_ || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(20ms);
    }
    return exited_;
  }

  pid_t pid() const { return pid_; }
  int status() const { return status_; }
  fs::path data_dir() const { return dir_ / "data"; }
  std::string Messages() const {
    std::ifstream in(dir_ / "stderr.log");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  HttpsClient AdminClient(std::uint16_t port) const {
    HttpsClient client(port, (data_dir() / "tls" / "server.crt").string());
    client.SetBasicAuth(kAdminUser, kAdminPassword);
    return client;
  }

 private:
  static inline int count_ = 0;
  fs::path dir_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// What the filter must never let through, whoever edits the allowlist.
TEST(ConfineTest, TheAllowlistNamesNoForbiddenCall) {
  const auto allowed = server::AllowedSystemCalls();
  EXPECT_GT(allowed.size(), 50u);
  // clang-format off
  constexpr const char* kForbidden[] = {
      "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
      "bpf", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
      "reboot", "swapon", "swapoff", "setns", "unshare", "keyctl", "add_key", "request_key",
      "userfaultfd", "perf_event_open", "personality", "chroot", "pivot_root", "acct", "setuid",
      "setgid", "setgroups", "setresuid", "setresgid", "capset", "fork", "vfork", "clone",
      "clone3", "kill", "prctl", "io_uring_setup", "memfd_create", "mknod", "symlink", "chown"};
  // clang-format on
  for (const char* forbidden : kForbidden) {
    for (const char* name : allowed) EXPECT_STRNE(name, forbidden);
  }
}

TEST(ConfineTest, SeccompAndNoNewPrivsAreOnByDefault) {
  KeepdProcess keepd;
  const pid_t pid = PidOf(keepd);
  auto status = ProcStatus(pid);
  EXPECT_EQ(status["Seccomp"], "2");  // a filter
  EXPECT_EQ(status["NoNewPrivs"], "1");
  // Every thread: the ones started before the filter (TSYNC) and after.
  int threads = 0;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "status");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("Seccomp:\t2"), std::string::npos) << task.path();
    ++threads;
  }
  EXPECT_GT(threads, 4);  // the blocking and pull-through pools, at least
  HttpsClient client = keepd.AdminClient();
  PushAndPull(client, "confined/app");
}

TEST(ConfineTest, SeccompFalseInstallsNoFilter) {
  KeepdProcess keepd(nlohmann::json{{"security", {{"seccomp", false}}}});
  auto status = ProcStatus(PidOf(keepd));
  EXPECT_EQ(status["Seccomp"], "0");
  EXPECT_EQ(status["NoNewPrivs"], "1");  // set either way
}

TEST(ConfineTest, ForbiddenCallsFailWithEpermAndServingGoesOn) {
  KeepdProcess keepd(nlohmann::json::object(),
                     KeepdOptions{.binary = KEEPD_TEST_PATH,
                                  .environment = {"KEEPD_TEST_FORBIDDEN_CALLS=execve,ptrace,"
                                                  "unshare,bpf"}});
  for (const char* call : {"execve", "ptrace", "unshare", "bpf"}) {
    EXPECT_TRUE(
        SaysSoon(keepd, std::string("test hook: ") + call + " failed: Operation not permitted"))
        << call << "\n"
        << keepd.Messages();
  }
  EXPECT_TRUE(keepd.running());
  HttpsClient client = keepd.AdminClient();
  PushAndPull(client, "after/app");
}

// The control of the test above: without the filter the same call reaches
// the kernel, which answers otherwise (keepd traces nobody: ESRCH).
TEST(ConfineTest, WithoutTheFilterTheCallsReachTheKernel) {
  KeepdProcess keepd(nlohmann::json{{"security", {{"seccomp", false}}}},
                     KeepdOptions{.binary = KEEPD_TEST_PATH,
                                  .environment = {"KEEPD_TEST_FORBIDDEN_CALLS=ptrace"}});
  EXPECT_TRUE(SaysSoon(keepd, "test hook: ptrace failed: No such process")) << keepd.Messages();
}

TEST(ConfineTest, KillModeKillsKeepdWithSigsys) {
  HandStartedKeepd keepd({{"listen", "127.0.0.1:0"}, {"security", {{"seccomp_action", "kill"}}}},
                         KEEPD_TEST_PATH, {"--allow-root"}, {"KEEPD_TEST_FORBIDDEN_CALLS=ptrace"});
  if (!keepd.Wait(30s)) FAIL() << "keepd survived a forbidden call in kill mode";
  const std::string messages = keepd.Messages();
  ASSERT_TRUE(WIFSIGNALED(keepd.status())) << "exit status " << WEXITSTATUS(keepd.status()) << "\n"
                                           << messages;
  EXPECT_EQ(WTERMSIG(keepd.status()), SIGSYS) << messages;
  // It had started: the filter, not a start-up error, ended it.
  EXPECT_NE(messages.find("keepd: listening on"), std::string::npos) << messages;
  EXPECT_EQ(messages.find("test hook: ptrace"), std::string::npos) << messages;
}

// A free TCP port below 1024 on 127.0.0.1 (0 when there is none).
std::uint16_t FreePrivilegedPort() {
  for (std::uint16_t port = 444; port < 1024; ++port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

// The account the tests change to: nobody (nogroup), whom Debian always has.
constexpr const char* kUser = "nobody";
constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

TEST(RunAsUserTest, BindsAPrivilegedPortThenServesAsTheUser) {
  ASSERT_EQ(::geteuid(), 0u) << "this test starts keepd as root";
  const std::uint16_t port = FreePrivilegedPort();
  ASSERT_NE(port, 0) << "no free port below 1024";
  HandStartedKeepd keepd({{"listen", "127.0.0.1:" + std::to_string(port)}, {"user", kUser}},
                         KeepdBinary(), {}, {});  // no --allow-root
  ASSERT_TRUE(keepd.WaitUntilListening()) << keepd.Messages();
  auto status = ProcStatus(keepd.pid());
  const std::string uid = std::to_string(kNobody), gid = std::to_string(kNogroup);
  EXPECT_EQ(status["Uid"], uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(status["Gid"], gid + "\t" + gid + "\t" + gid + "\t" + gid);
  EXPECT_EQ(status["Groups"], gid);
  EXPECT_EQ(status["CapEff"], "0000000000000000");
  EXPECT_EQ(status["CapPrm"], "0000000000000000");
  EXPECT_EQ(status["Seccomp"], "2");
  EXPECT_NE(keepd.Messages().find("keepd: running as nobody"), std::string::npos);
  HttpsClient client = keepd.AdminClient(port);
  PushAndPull(client, "dropped/app");
  // What keepd made is the user's: the data directory, the database, the
  // token key, the self-signed certificate's key.
  for (const char* name : {"", "metadata.db", "token.key", "tls/server.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat((keepd.data_dir() / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_uid, kNobody) << name;
  }
}

// A configured TLS key only root may read is read before the change of user.
TEST(RunAsUserTest, ReadsARootOnlyTlsKeyBeforeChangingUser) {
  ASSERT_EQ(::geteuid(), 0u) << "this test starts keepd as root";
  const fs::path tls =
      fs::temp_directory_path() / ("keep-confine-tls-" + std::to_string(::getpid()));
  fs::create_directories(tls);
  const std::string cert = (tls / "server.crt").string(), key = (tls / "server.key").string();
  const std::string make =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
      "-keyout " +
      key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(make.c_str()), 0);
  ::chmod(key.c_str(), 0600);  // root's
  const std::uint16_t port = FreePrivilegedPort();
  ASSERT_NE(port, 0) << "no free port below 1024";
  {
    HandStartedKeepd keepd({{"listen", "127.0.0.1:" + std::to_string(port)},
                            {"user", kUser},
                            {"tls", {{"cert", cert}, {"key", key}}}},
                           KeepdBinary(), {}, {});
    ASSERT_TRUE(keepd.WaitUntilListening()) << keepd.Messages();
    HttpsClient client(port, cert);
    client.SetBasicAuth(kAdminUser, kAdminPassword);
    EXPECT_EQ(client.Get("/v2/").status, 200);
    // Served with a key that stays root's, by a keepd that is nobody now.
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 0077, 0u);
    EXPECT_EQ(ProcStatus(keepd.pid())["Uid"].substr(0, 5), std::to_string(kNobody));
  }
  fs::remove_all(tls);
}

TEST(RunAsUserTest, RefusesADataDirectoryOwnedBySomeoneElse) {
  ASSERT_EQ(::geteuid(), 0u) << "this test starts keepd as root";
  auto roots = [](const fs::path& data_dir) { fs::create_directories(data_dir); };
  HandStartedKeepd keepd({{"listen", "127.0.0.1:0"}, {"user", kUser}}, KeepdBinary(), {}, {},
                         roots);
  ASSERT_TRUE(keepd.Wait(30s));
  EXPECT_EQ(WEXITSTATUS(keepd.status()), 1);
  EXPECT_NE(keepd.Messages().find("belongs to uid 0, not to nobody"), std::string::npos)
      << keepd.Messages();
  EXPECT_NE(keepd.Messages().find("chown -R nobody: "), std::string::npos) << keepd.Messages();
  EXPECT_FALSE(fs::exists(keepd.data_dir() / "metadata.db"));
}

TEST(RunAsUserTest, WithoutUserRootIsStillRefused) {
  ASSERT_EQ(::geteuid(), 0u) << "this test starts keepd as root";
  HandStartedKeepd keepd({{"listen", "127.0.0.1:0"}}, KeepdBinary(), {}, {});
  ASSERT_TRUE(keepd.Wait(30s));
  EXPECT_EQ(WEXITSTATUS(keepd.status()), 1);
  EXPECT_NE(keepd.Messages().find("refusing to run as root"), std::string::npos)
      << keepd.Messages();
}

}  // namespace
}  // namespace keep::testkit
