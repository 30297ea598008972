// server/confine.h — what keepd gives up before it serves: root (bind a
// privileged port as root, then run as a configured user) and, through a
// seccomp filter, every system call it does not need.
//
// Called from Main alone, in this order:
//   ResolveRunAs (config read) → bind listeners, read TLS material →
//   DropPrivileges → open the data directory, start threads → Confine.
// Not thread-safe: DropPrivileges runs while keepd has one thread; Confine
// applies its filter to every thread (SECCOMP_FILTER_FLAG_TSYNC).
#pragma once

#include "config/config.h"
#include "core/error.h"

#include <sys/types.h>

#include <optional>
#include <span>
#include <string>

namespace keep::server {

// The account keepd changes to when started as root with `user` set.
struct RunAs {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Started as root with `user`: that user (and `group`, else the user's
// primary group). Started as anyone else with `user`: nothing to change,
// provided keepd already runs as that user (an error otherwise). Without
// `user`: nothing.
[[nodiscard]] Result<std::optional<RunAs>> ResolveRunAs(const Config& config);

// As root, before dropping: the data directory belongs to the account
// keepd will run as. A missing one is created for it (0700); one owned by
// someone else is refused with the command that fixes it, rather than
// changed under an operator's feet.
[[nodiscard]] Result<void> PrepareDataDir(const std::string& data_dir, const RunAs& run_as);

// setgroups, setgid, setuid (in that order), then checks that root cannot
// be regained: setuid(0) must fail. All capabilities go with root.
[[nodiscard]] Result<void> DropPrivileges(const RunAs& run_as);

// Sets no_new_privs on the calling thread and the threads it starts after:
// called while keepd has one thread, so that all get it, filter or not.
[[nodiscard]] Result<void> ForbidNewPrivileges();

// Sets no_new_privs, then, when config.seccomp, installs the filter on
// every thread of the process: the calls AllowedSystemCalls() names (some
// with their arguments restricted), everything else failing with EPERM
// (seccomp_action "errno") or killing keepd with SIGSYS ("kill").
[[nodiscard]] Result<void> Confine(const Config& config);

// The system calls the filter lets through, by name (for the docs and tests).
std::span<const char* const> AllowedSystemCalls();

// keepd-test only (KEEP_TEST_HOOKS): makes the forbidden calls that
// KEEPD_TEST_FORBIDDEN_CALLS names ("execve,ptrace,unshare") and reports
// how each ended on stderr. A no-op in keepd.
void RunForbiddenCallsHook();

}  // namespace keep::server
