// Who may do what: namespace roles, robot scopes, anonymous pull and the
// global admin role, applied to the access a route declares.
#include "auth/auth.h"

#include "core/names.h"

#include <algorithm>
#include <array>

namespace keep {
namespace {

constexpr std::array<std::string_view, 3> kRepoActions = {"pull", "push", "delete"};

bool Has(const std::vector<std::string>& v, std::string_view a) {
  return std::find(v.begin(), v.end(), a) != v.end();
}

// The repository actions `who` holds in a namespace.
std::vector<std::string> RepoActions(const Identity& who, const NamespaceAccess& standing) {
  std::vector<std::string> out;
  auto add = [&](std::string_view a) {
    if (!Has(out, a)) out.emplace_back(a);
  };
  if (who.admin && !who.robot) {
    for (auto a : kRepoActions) add(a);
    return out;
  }
  if (standing.anonymous_pull) add("pull");
  if (who.anonymous()) return out;
  if (who.robot) {
    if (standing.robot_actions) {
      for (const auto& a : *standing.robot_actions) {
        if (std::find(kRepoActions.begin(), kRepoActions.end(), a) != kRepoActions.end()) add(a);
      }
    }
    return out;
  }
  auto role = ParseRole(standing.role).value_or(Role::kNone);
  if (role >= Role::kReader) add("pull");
  if (role >= Role::kPublisher) {
    add("push");
    add("delete");
  }
  return out;
}

std::string Who(const Identity& who) {
  if (who.anonymous()) return "anonymous users";
  return (who.robot ? "robot " : "user ") + who.user;
}

// Why the access is refused, and what to do about it.
std::string Refusal(const Identity& who, const Access& access) {
  switch (access.action) {
    case Action::kPull:
    case Action::kPush:
    case Action::kDelete: {
      std::string action = *NeededGrant(access)->actions.begin();
      std::string ns(NamespaceOf(access.target));
      std::string hint = who.robot ? "; the robot's scopes do not include it"
                                   : "; ask a maintainer of namespace " + ns + " for the " +
                                         (access.action == Action::kPull ? "reader" : "publisher") +
                                         " role";
      return Who(who) + " may not " + action + " repository " + access.target + hint;
    }
    case Action::kCatalog: return Who(who) + " may not list the catalog";
    case Action::kPerson: return "robot accounts may not use the admin API; sign in as a user";
    case Action::kAdmin: return "this needs the admin role, which " + Who(who) + " does not have";
    case Action::kMaintain:
      return "this needs the maintainer role in namespace " + access.target + ", which " +
             Who(who) + " does not have";
    case Action::kSelf: return Who(who) + " may only manage their own account";
    case Action::kNone:
    case Action::kLogin: break;
  }
  return Who(who) + " may not do this";
}

Error Unauthorized(const std::string& what) {
  return Fail(ErrorCode::kUnauthorized, "authentication required to " + what);
}

}  // namespace

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "reader") return Role::kReader;
  if (name == "publisher") return Role::kPublisher;
  if (name == "maintainer") return Role::kMaintainer;
  return std::nullopt;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader: return "reader";
    case Role::kPublisher: return "publisher";
    case Role::kMaintainer: return "maintainer";
    case Role::kNone: break;
  }
  return "";
}

std::optional<Grant> NeededGrant(const Access& access) {
  switch (access.action) {
    case Action::kNone:
    case Action::kLogin: return std::nullopt;
    case Action::kPull: return Grant{"repository", access.target, {"pull"}};
    case Action::kPush: return Grant{"repository", access.target, {"push"}};
    case Action::kDelete: return Grant{"repository", access.target, {"delete"}};
    case Action::kCatalog: return Grant{"registry", "catalog", {"*"}};
    case Action::kPerson:
    case Action::kAdmin:
    case Action::kMaintain:
    case Action::kSelf: return Grant{"registry", "admin", {"*"}};
  }
  return std::nullopt;
}

std::string ChallengeScope(const Access& access) {
  auto need = NeededGrant(access);
  if (!need) return {};
  if (access.action == Action::kPush) need->actions = {"pull", "push"};
  return ScopeString(*need);
}

std::vector<std::string> PermittedActions(const Identity& who, const Grant& requested,
                                          const NamespaceAccess& standing) {
  std::vector<std::string> out;
  if (requested.type == "repository") {
    if (!ValidateRepoName(requested.name)) return out;
    auto held = RepoActions(who, standing);
    for (const auto& a : requested.actions) {
      bool ok = a == "*" ? held.size() == kRepoActions.size() : Has(held, a);
      if (ok && !Has(out, a)) out.push_back(a);
    }
  } else if (requested.type == "registry") {
    // The catalog is filtered to what the caller may pull; the admin API
    // decides per call. Robots never use the admin API.
    bool ok = (requested.name == "catalog" && !who.anonymous()) ||
              (requested.name == "admin" && !who.anonymous() && !who.robot);
    if (ok && Has(requested.actions, "*")) out.push_back("*");
  }
  return out;
}

Result<void> Authorize(const Identity& who, const Access& access,
                       const NamespaceAccess& standing) {
  if (access.action == Action::kNone) return {};
  bool authenticated = !who.anonymous() || who.grants.has_value();
  if (access.action == Action::kLogin) {
    if (authenticated) return {};
    return Unauthorized("use this registry: log in with a Keep user name and password");
  }
  Grant need = *NeededGrant(access);
  const std::string& action = need.actions.front();
  bool may = false;
  switch (access.action) {
    case Action::kPull:
    case Action::kPush:
    case Action::kDelete:
    case Action::kCatalog: may = !PermittedActions(who, need, standing).empty(); break;
    case Action::kPerson: may = !who.anonymous() && !who.robot; break;
    case Action::kAdmin: may = who.admin && !who.robot; break;
    case Action::kMaintain:
      may = !who.anonymous() && !who.robot &&
            (who.admin || ParseRole(standing.role) == Role::kMaintainer);
      break;
    case Action::kSelf:
      may = !who.anonymous() && !who.robot && (who.admin || who.user == access.target);
      break;
    case Action::kNone:
    case Action::kLogin: break;
  }
  bool covered = !who.grants || std::any_of(who.grants->begin(), who.grants->end(),
                                             [&](const Grant& g) {
                                               return g.type == need.type &&
                                                      g.name == need.name && g.Allows(action);
                                             });
  if (may && covered) return {};
  // Not signed in, or a token that lacks a scope a new token would carry:
  // the client authenticates (again).
  if (who.anonymous() || (may && !covered)) {
    return Unauthorized(need.type == "repository" ? action + " " + need.name
                                                  : std::string("use the ") + need.name);
  }
  return Fail(ErrorCode::kDenied, Refusal(who, access));
}

Result<std::vector<std::string>> PermittedActions(Metadata& metadata, const Identity& who,
                                                  const Grant& requested) {
  NamespaceAccess standing;
  if (requested.type == "repository" && ValidateRepoName(requested.name)) {
    auto s = metadata.AccessIn(std::string(NamespaceOf(requested.name)), who.id);
    if (!s) return s.error();
    standing = std::move(*s);
  }
  return PermittedActions(who, requested, standing);
}

namespace {

using Standing = std::optional<std::pair<std::string, NamespaceAccess>>;

// The caller's standing in the namespace that decides `access` (its name and
// what was read), or nullopt when none is needed: admins need no lookup, nor
// does anyone for registry-wide access.
Result<Standing> StandingFor(Metadata& metadata, const Identity& who, const Access& access) {
  bool in_namespace = access.action == Action::kPull || access.action == Action::kPush ||
                      access.action == Action::kDelete || access.action == Action::kMaintain;
  if (!in_namespace || (who.admin && !who.robot)) return Standing();
  std::string ns(access.action == Action::kMaintain ? access.target : NamespaceOf(access.target));
  auto s = metadata.AccessIn(ns, who.id);
  if (!s) return s.error();
  return Standing(std::in_place, std::move(ns), std::move(*s));
}

}  // namespace

Result<void> Authorize(Metadata& metadata, const Identity& who, const Access& access) {
  auto standing = StandingFor(metadata, who, access);
  if (!standing) return standing.error();
  return Authorize(who, access, *standing ? (*standing)->second : NamespaceAccess{});
}

Result<void> AuthorizeRequest(Metadata& metadata, Identity& who, const Access& access) {
  who.standing.reset();
  auto standing = StandingFor(metadata, who, access);
  if (!standing) return standing.error();
  who.standing = std::move(*standing);
  return Authorize(who, access, who.standing ? who.standing->second : NamespaceAccess{});
}

Result<std::optional<std::vector<std::string>>> PullableNamespaces(Metadata& metadata,
                                                                   const Identity& who) {
  using Out = std::optional<std::vector<std::string>>;
  if (who.admin && !who.robot) return Out();
  std::vector<std::string> out;
  auto all = metadata.ListNamespaces(std::nullopt);
  if (!all) return all.error();
  for (const auto& ns : *all) {
    if (ns.anonymous_pull) out.push_back(ns.name);
  }
  if (who.robot) {
    auto robots = metadata.ListRobots();
    if (!robots) return robots.error();
    for (const auto& r : *robots) {
      if (r.account.id != who.id) continue;
      for (const auto& scope : r.scopes) {
        if (Has(scope.actions, "pull")) out.push_back(scope.ns);
      }
    }
  } else if (!who.anonymous()) {
    auto mine = metadata.MembershipsOf(who.id);
    if (!mine) return mine.error();
    for (const auto& m : *mine) out.push_back(m.ns);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return Out(std::move(out));
}

}  // namespace keep
