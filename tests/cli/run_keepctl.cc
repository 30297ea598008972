#include "tests/cli/run_keepctl.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
constexpr auto kDeadline = std::chrono::seconds(60);

std::string KeepctlBinary() {
  const char* other = std::getenv("KEEP_TEST_KEEPCTL");
  return other && *other ? other : KEEPCTL_PATH;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

bool Dropped(std::string_view entry) {
  for (std::string_view name : {"KEEPCTL_", "HOME=", "XDG_CONFIG_HOME="}) {
    if (entry.rfind(name, 0) == 0) return true;
  }
  return false;
}

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // keepctl closed stdin without reading it all: fine
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const KeepctlRun& run) {
  return os << "exit " << run.exit_code << "\n--- stdout ---\n"
            << run.out << "--- stderr ---\n"
            << run.err << "--- end ---";
}

Keepctl::Keepctl() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/keepctl-test-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  dir_ = templ;
  fs::create_directories(dir_ / "home");
  env_["HOME"] = (dir_ / "home").string();
  env_["XDG_CONFIG_HOME"] = (dir_ / "xdg").string();
  // Ours, not the SIGPIPE of a keepctl that exits before reading its stdin.
  ::signal(SIGPIPE, SIG_IGN);
}

Keepctl::~Keepctl() {
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

KeepctlRun Keepctl::Run(const std::vector<std::string>& args, std::string_view stdin_data) const {
  return RunProgram(KeepctlBinary(), args, stdin_data);
}

KeepctlRun Keepctl::RunProgram(const std::string& program, const std::vector<std::string>& args,
                               std::string_view stdin_data) const {
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (!Dropped(*e)) env.emplace_back(*e);
  }
  for (const auto& [name, value] : env_) env.push_back(name + "=" + value);
  auto argp = Pointers(argv);
  auto envp = Pointers(env);
  const std::string cwd = cwd_.string();

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The child: async-signal-safe calls only. No controlling terminal.
    ::setsid();
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(argp[0], argp.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  WriteAll(in[1], stdin_data);
  ::close(in[1]);

  KeepctlRun run;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      run.err += "\n[test: " + program + " killed after " + std::to_string(kDeadline.count()) +
                 " s]";
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string ValueOf(const std::string& out, std::string_view key) {
  std::istringstream lines(out);
  std::string prefix = std::string(key) + ": ";
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

}  // namespace keep::testkit
