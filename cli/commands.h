// cli/commands.h — keepctl's commands: the table (cli/commands.cc) and the
// handlers, one file per area (commands_session.cc, commands_users.cc,
// commands_robots.cc, commands_namespaces.cc, commands_keys.cc for keys and
// trust policy, commands_sign.cc for sign and verify, commands_images.cc for
// repositories, tags and images, commands_maintenance.cc for gc and fsck,
// commands_docs.cc for shell completion and the manual page, commands_mirrors.cc
// for the curated mirror, commands_identities.cc for keyless identities and trust
// roots, commands_audit.cc for the audit log).
//
// A handler gets the parsed command line, talks to the registry and prints
// on stdout; it returns a Failure for main() to print on stderr.
// Main thread only.
#pragma once

#include "cli/args.h"
#include "cli/client.h"
#include "cli/output.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iostream>
#include <span>
#include <string>
#include <string_view>

namespace keep::cli {

std::span<const CommandSpec> CommandTable();

// A client for the saved credentials; --server and --ca, when given, must
// agree with them (the password is never sent to another server).
[[nodiscard]] Result<AdminClient> ConnectSaved(const Invocation& inv);

// The server's answer in JSON mode, else what `table` prints.
template <class TablePrinter>
void Show(const Invocation& inv, const nlohmann::json& answer, TablePrinter&& table) {
  if (inv.globals.output == Format::kJson) {
    if (!answer.is_null()) PrintJson(std::cout, answer);
  } else {
    table();
  }
}

// "/users/" + PathSegment(name), for one or more segments.
std::string PathOf(std::initializer_list<std::string_view> segments);

// "90d", "12h", "30m", "1d12h" → seconds; a Usage failure naming `flag` of
// `command` ("keepctl robot create") for anything else, and for zero ("0s")
// unless `allow_zero`.
[[nodiscard]] Result<std::int64_t> ParseDuration(const std::string& text, std::string_view flag,
                                                 const std::string& command,
                                                 bool allow_zero = false);
// Seconds in the same units, largest first: 90000 → "1d1h", 0 → "0s".
std::string FormatDuration(std::int64_t seconds);

// The whole of a (small) file; a failure naming it when it cannot be read or
// is larger than `limit` bytes.
[[nodiscard]] Result<std::string> ReadSmallFile(const std::string& path,
                                                std::size_t limit = 1 << 20);

Result<void> Login(const Invocation& inv);
Result<void> Logout(const Invocation& inv);
Result<void> Whoami(const Invocation& inv);

Result<void> UserAdd(const Invocation& inv);
Result<void> UserList(const Invocation& inv);
Result<void> UserShow(const Invocation& inv);
Result<void> UserPasswd(const Invocation& inv);
Result<void> UserDisable(const Invocation& inv);
Result<void> UserEnable(const Invocation& inv);

Result<void> RobotCreate(const Invocation& inv);
Result<void> RobotList(const Invocation& inv);
Result<void> RobotRevoke(const Invocation& inv);

Result<void> MirrorAdd(const Invocation& inv);
Result<void> MirrorEdit(const Invocation& inv);
Result<void> MirrorList(const Invocation& inv);
Result<void> MirrorShow(const Invocation& inv);
Result<void> MirrorRemove(const Invocation& inv);
Result<void> MirrorSync(const Invocation& inv);
Result<void> MirrorApprove(const Invocation& inv);
Result<void> MirrorKey(const Invocation& inv);

Result<void> NamespaceCreate(const Invocation& inv);
Result<void> NamespaceList(const Invocation& inv);
Result<void> NamespaceShow(const Invocation& inv);
Result<void> NamespaceDelete(const Invocation& inv);
Result<void> NamespaceSet(const Invocation& inv);

Result<void> MemberAdd(const Invocation& inv);
Result<void> MemberRemove(const Invocation& inv);
Result<void> MemberList(const Invocation& inv);

Result<void> KeyGenerate(const Invocation& inv);
Result<void> KeyAdd(const Invocation& inv);
Result<void> KeyList(const Invocation& inv);
Result<void> KeyShow(const Invocation& inv);
Result<void> KeyRevoke(const Invocation& inv);
// commands_identities.cc
Result<void> IdentityAdd(const Invocation& inv);
Result<void> IdentityList(const Invocation& inv);
Result<void> IdentityShow(const Invocation& inv);
Result<void> IdentityRemove(const Invocation& inv);
Result<void> TrustRootSet(const Invocation& inv);
Result<void> TrustRootList(const Invocation& inv);
Result<void> TrustRootShow(const Invocation& inv);
Result<void> TrustRootRemove(const Invocation& inv);
Result<void> PolicyShow(const Invocation& inv);
Result<void> PolicySet(const Invocation& inv);

Result<void> Sign(const Invocation& inv);
Result<void> Verify(const Invocation& inv);
Result<void> VerifyBundle(const Invocation& inv);
// commands_images.cc
Result<void> RepoList(const Invocation& inv);
Result<void> TagList(const Invocation& inv);
Result<void> TagDelete(const Invocation& inv);
Result<void> ImageShow(const Invocation& inv);
// commands_quarantine.cc
Result<void> QuarantineList(const Invocation& inv);
Result<void> QuarantineDrop(const Invocation& inv);

Result<void> Gc(const Invocation& inv);
Result<void> Fsck(const Invocation& inv);
Result<void> Backup(const Invocation& inv);
// commands_audit.cc
Result<void> AuditLog(const Invocation& inv);
// commands_docs.cc: written from CommandTable()
Result<void> Completion(const Invocation& inv);
Result<void> ManPage(const Invocation& inv);

}  // namespace keep::cli
