#include "server/confine.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#ifdef KEEP_TEST_HOOKS
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#endif

// A build with AddressSanitizer: its runtime needs a few calls keepd does
// not (see kSanitizerCalls).
#if defined(__SANITIZE_ADDRESS__)
#define KEEP_ASAN_RUNTIME 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_ASAN_RUNTIME 1
#endif
#endif

namespace keep::server {
namespace {

Error Failed(const std::string& what) {
  return Fail(ErrorCode::kInternal, what + ": " + std::strerror(errno));
}

// What keepd calls once it serves: checked by running the integration,
// e2e and sanitizer suites with every refused call logged by the kernel,
// plus the other calls glibc makes for the same functions
// (newfstatat/statx/fstat, open/openat, the *64 and *v variants). fchown:
// SQLite, run as root, gives the files it adds beside the database
// (journal, WAL) the database's owner. Calls with a restricted argument
// (clone, mmap, mprotect, socket, ioctl, prctl, prlimit64, tgkill) are not
// here but in AddRestricted.
// clang-format off
constexpr const char* kAllowed[] = {
    // Files: under the data directory in practice (the read-only root
    // filesystem keeps it so; a filter cannot see paths).
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "lseek", "close", "close_range", "open", "openat", "openat2", "stat", "fstat",
    "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
    "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "readlink", "readlinkat", "fsync", "fdatasync",
    "sync_file_range", "ftruncate", "truncate", "fallocate", "fadvise64", "fchmod", "chmod",
    "fchmodat", "fchown", "flock", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "umask",
    "getcwd", "sendfile", "copy_file_range", "utimensat", "futimesat",
    // Waiting for descriptors and timers (Asio's reactor).
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2", "timerfd_create",
    "timerfd_settime", "timerfd_gettime",
    // Networking (clients, and keepd as a client of upstream registries
    // and of the resolver).
    "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
    "getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "sendmmsg", "recvmmsg", "shutdown",
    // Memory (mmap and mprotect: see AddRestricted).
    "munmap", "mremap", "madvise", "msync", "brk", "mlock", "munlock", "mincore",
    // Threads, their locks, signals and the process's own facts.
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    "exit", "exit_group", "gettid", "getpid", "getppid", "getuid", "geteuid", "getgid",
    "getegid", "getresuid", "getresgid", "getgroups", "rt_sigaction", "rt_sigprocmask",
    "rt_sigreturn", "rt_sigtimedwait", "sigaltstack", "restart_syscall", "sched_yield",
    "sched_getaffinity", "membarrier", "getrusage", "getrlimit", "sysinfo", "uname", "times",
    // Time and randomness.
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getrandom",
};
// clang-format on

// Only the AddressSanitizer runtime calls these: LeakSanitizer stops the
// threads with ptrace (from a thread of its own, which it waits for) to
// look for leaks at exit, and lists /proc/self/task with the legacy
// getdents. Never in keepd as shipped.
#ifdef KEEP_ASAN_RUNTIME
constexpr const char* kSanitizerCalls[] = {"ptrace", "wait4", "prctl", "getdents"};
#endif

constexpr std::uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWCGROUP;

struct FilterDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

Result<void> Add(scmp_filter_ctx ctx, std::uint32_t action, const char* name,
                 std::vector<scmp_arg_cmp> conditions = {}) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return {};  // not a call of this architecture
  int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(conditions.size()),
                                  conditions.data());
  if (rc < 0) {
    return Fail(ErrorCode::kInternal,
                std::string("seccomp: cannot add a rule for ") + name + ": " + std::strerror(-rc));
  }
  return {};
}

// Argument `arg` equals `value`; or, masked with `mask`, equals `value`.
scmp_arg_cmp Is(unsigned arg, scmp_datum_t value) {
  return scmp_arg_cmp{arg, SCMP_CMP_EQ, value, 0};
}
scmp_arg_cmp Masked(unsigned arg, scmp_datum_t mask, scmp_datum_t value) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, mask, value};
}

// The calls allowed only with some arguments.
Result<void> AddRestricted(scmp_filter_ctx ctx) {
  // Threads: no new process, no new namespace. clone3 passes its flags in
  // memory, which a filter cannot read: it fails with ENOSYS, and glibc
  // falls back to clone.
  constexpr std::uint64_t kThread = CLONE_VM | CLONE_THREAD;
  KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, "clone", {Masked(0, kNamespaceFlags | kThread, kThread)}));
#ifdef KEEP_ASAN_RUNTIME
  // LeakSanitizer's tracer shares memory but is a process of its own.
  KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, "clone", {Masked(0, kNamespaceFlags, 0)}));
#endif
  KEEP_TRY(Add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"));
  // Memory that is writable or executable, never both at once (W^X):
  // libraries may still be mapped, code may not be written.
  for (const char* name : {"mmap", "mprotect", "pkey_mprotect"}) {
    KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, name, {Masked(2, PROT_EXEC, 0)}));
    KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, name, {Masked(2, PROT_WRITE, 0)}));
  }
  // IPv4, IPv6; Unix sockets and netlink for the resolver.
  for (int family : {AF_INET, AF_INET6, AF_UNIX, AF_NETLINK}) {
    KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, "socket", {Is(0, static_cast<scmp_datum_t>(family))}));
  }
  // Non-blocking mode, bytes available, and isatty().
  for (scmp_datum_t request :
       {scmp_datum_t{FIONBIO}, scmp_datum_t{FIONREAD}, scmp_datum_t{TCGETS}}) {
    KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, "ioctl", {Is(1, request)}));
  }
  // Thread names.
  for (int option : {PR_SET_NAME, PR_GET_NAME}) {
    KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, "prctl", {Is(0, static_cast<scmp_datum_t>(option))}));
  }
  // Reading limits, not raising them (keepd raised its own at start).
  KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, "prlimit64", {Is(2, 0)}));
  // Signals to its own threads (raise, abort), to no other process.
  KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, "tgkill", {Is(0, static_cast<scmp_datum_t>(::getpid()))}));
  return {};
}

}  // namespace

std::span<const char* const> AllowedSystemCalls() { return kAllowed; }

Result<std::optional<RunAs>> ResolveRunAs(const Config& config) {
  if (config.user.empty()) return std::optional<RunAs>();
  RunAs run_as;
  run_as.user = config.user;
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(config.user.c_str(), &pw, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) {
    return Fail(ErrorCode::kInternal, "config: \"user\": there is no user \"" + config.user +
                                          "\" on this system" +
                                          (rc != 0 ? std::string(": ") + std::strerror(rc) : ""));
  }
  run_as.uid = pw.pw_uid;
  run_as.gid = pw.pw_gid;
  if (!config.group.empty()) {
    group gr{};
    group* g = nullptr;
    rc = ::getgrnam_r(config.group.c_str(), &gr, buffer.data(), buffer.size(), &g);
    if (rc != 0 || g == nullptr) {
      return Fail(ErrorCode::kInternal,
                  "config: \"group\": there is no group \"" + config.group + "\" on this system");
    }
    run_as.gid = gr.gr_gid;
  }
  if (run_as.uid == 0) {
    return Fail(ErrorCode::kInternal, "config: \"user\": \"" + config.user +
                                          "\" is root; name an unprivileged user for keepd");
  }
  if (::geteuid() == 0) return std::optional<RunAs>(run_as);
  if (::geteuid() == run_as.uid && (config.group.empty() || ::getegid() == run_as.gid)) {
    return std::optional<RunAs>();  // already that user: nothing to change
  }
  return Fail(ErrorCode::kInternal,
              "config: \"user\" is \"" + config.user + "\" but keepd runs as uid " +
                  std::to_string(::geteuid()) +
                  " and cannot change user: start it as root (it binds its port, then runs "
                  "as that user) or as that user");
}

Result<void> PrepareDataDir(const std::string& data_dir, const RunAs& run_as) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Failed("cannot look at data_dir " + data_dir);
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec)
      return Fail(ErrorCode::kInternal, "cannot create data_dir " + data_dir + ": " + ec.message());
    if (::chown(data_dir.c_str(), run_as.uid, run_as.gid) != 0) {
      return Failed("cannot give data_dir " + data_dir + " to " + run_as.user);
    }
    if (::chmod(data_dir.c_str(), 0700) != 0) return Failed("cannot chmod data_dir " + data_dir);
    return {};
  }
  if (!S_ISDIR(st.st_mode)) {
    return Fail(ErrorCode::kInternal, "data_dir " + data_dir + " is not a directory");
  }
  if (st.st_uid != run_as.uid) {
    return Fail(ErrorCode::kInternal, "data_dir " + data_dir + " belongs to uid " +
                                          std::to_string(st.st_uid) + ", not to " + run_as.user +
                                          " (uid " + std::to_string(run_as.uid) +
                                          "), whom keepd runs as; give it to that user: chown -R " +
                                          run_as.user + ": " + data_dir);
  }
  return {};
}

Result<void> DropPrivileges(const RunAs& run_as) {
  if (::setgroups(1, &run_as.gid) != 0) return Failed("setgroups");
  if (::setgid(run_as.gid) != 0) return Failed("setgid to " + std::to_string(run_as.gid));
  if (::setuid(run_as.uid) != 0) return Failed("setuid to " + run_as.user);
  if (::setuid(0) == 0 || ::seteuid(0) == 0) {
    return Fail(ErrorCode::kInternal, "could regain root after changing to " + run_as.user);
  }
  if (::getuid() != run_as.uid || ::geteuid() != run_as.uid || ::getgid() != run_as.gid ||
      ::getegid() != run_as.gid) {
    return Fail(ErrorCode::kInternal, "did not change to " + run_as.user);
  }
  return {};
}

Result<void> ForbidNewPrivileges() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Failed("prctl(PR_SET_NO_NEW_PRIVS)");
  return {};
}

Result<void> Confine(const Config& config) {
  KEEP_TRY(ForbidNewPrivileges());
  if (!config.seccomp) return {};
  const std::uint32_t refuse =
      config.seccomp_action == "kill" ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM);
  Filter filter(seccomp_init(refuse));
  if (!filter) return Fail(ErrorCode::kInternal, "seccomp: cannot make a filter");
  scmp_filter_ctx ctx = filter.get();
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc < 0) {
    return Fail(ErrorCode::kInternal,
                std::string("seccomp: cannot filter every thread: ") + std::strerror(-rc));
  }
  for (const char* name : kAllowed) KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, name));
#ifdef KEEP_ASAN_RUNTIME
  for (const char* name : kSanitizerCalls) KEEP_TRY(Add(ctx, SCMP_ACT_ALLOW, name));
#endif
  KEEP_TRY(AddRestricted(ctx));
  if (int rc = seccomp_load(ctx); rc < 0) {
    return Fail(ErrorCode::kInternal, std::string("seccomp: cannot install the filter: ") +
                                          std::strerror(-rc) +
                                          " (\"security\": {\"seccomp\": false} runs without it)");
  }
  return {};
}

#ifdef KEEP_TEST_HOOKS
// For tests/security/confine_test.cc: calls the filter forbids, made after it
// is installed, on a thread that existed before (the filter must cover it).
// Compiled only into keepd-test (tests/crash/CMakeLists.txt).
void RunForbiddenCallsHook() {
  const char* names = std::getenv("KEEPD_TEST_FORBIDDEN_CALLS");
  if (names == nullptr) return;
  std::istringstream list(names);
  std::string name;
  while (std::getline(list, name, ',')) {
    long rc = -1;
    errno = 0;
    if (name == "execve") {
      char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
      char* envp[] = {nullptr};
      rc = ::execve("/bin/true", argv, envp);
    } else if (name == "ptrace") {
      // Unfiltered, this fails with ESRCH (keepd does not trace its parent).
      rc = ::ptrace(PTRACE_PEEKDATA, ::getppid(), nullptr, nullptr);
    } else if (name == "unshare") {
      rc = ::unshare(CLONE_NEWNS);
    } else if (name == "bpf") {
      rc = ::syscall(SYS_bpf, 0, nullptr, 0);
    } else {
      std::fprintf(stderr, "keepd: test hook: no such call to try: %s\n", name.c_str());
      continue;
    }
    if (rc == -1 && errno != 0) {
      std::fprintf(stderr, "keepd: test hook: %s failed: %s\n", name.c_str(), std::strerror(errno));
    } else {
      std::fprintf(stderr, "keepd: test hook: %s succeeded\n", name.c_str());
    }
  }
}
#else
void RunForbiddenCallsHook() {}
#endif

}  // namespace keep::server
