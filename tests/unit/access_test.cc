// The access decisions of auth/access.cc, from a caller's standing in a
// namespace: each role against each action, robots, anonymous pull, tokens.
#include "auth/auth.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

Identity User(const std::string& name, bool admin = false) {
  Identity who;
  who.user = name;
  who.id = 42;
  who.admin = admin;
  return who;
}

NamespaceAccess Role(const std::string& role) { return NamespaceAccess{true, false, role, {}, {}}; }

std::string Decide(const Identity& who, Action action, const NamespaceAccess& standing,
                   const std::string& target = "acme/app") {
  auto r = Authorize(who, Access{action, target}, standing);
  if (r) return "ok";
  return r.error().code == ErrorCode::kDenied ? "denied" : "unauthorized";
}

struct Case {
  const char* role;
  const char* pull;
  const char* push;
  const char* del;
  const char* maintain;
};

TEST(AccessTest, EachRoleAgainstEachAction) {
  const Case cases[] = {
      {"", "denied", "denied", "denied", "denied"},
      {"reader", "ok", "denied", "denied", "denied"},
      {"publisher", "ok", "ok", "ok", "denied"},
      {"maintainer", "ok", "ok", "ok", "ok"},
      {"owner", "denied", "denied", "denied", "denied"},  // unknown roles grant nothing
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("role '") + c.role + "'");
    Identity who = User("bob");
    EXPECT_EQ(Decide(who, Action::kPull, Role(c.role)), c.pull);
    EXPECT_EQ(Decide(who, Action::kPush, Role(c.role)), c.push);
    EXPECT_EQ(Decide(who, Action::kDelete, Role(c.role)), c.del);
    EXPECT_EQ(Decide(who, Action::kMaintain, Role(c.role), "acme"), c.maintain);
    EXPECT_EQ(Decide(who, Action::kAdmin, Role(c.role)), "denied");
    EXPECT_EQ(Decide(who, Action::kLogin, Role(c.role)), "ok");
    EXPECT_EQ(Decide(who, Action::kCatalog, Role(c.role)), "ok");
  }
}

TEST(AccessTest, AdminsMayDoAnything) {
  Identity admin = User("root", true);
  for (Action a : {Action::kPull, Action::kPush, Action::kDelete, Action::kCatalog, Action::kAdmin,
                   Action::kPerson, Action::kMaintain, Action::kSelf}) {
    EXPECT_EQ(Decide(admin, a, NamespaceAccess{}), "ok") << static_cast<int>(a);
  }
}

TEST(AccessTest, AnonymousCallersPullOnlyWhereAllowed) {
  Identity anonymous;
  NamespaceAccess open{true, true, "", {}, {}};
  EXPECT_EQ(Decide(anonymous, Action::kPull, NamespaceAccess{}), "unauthorized");
  EXPECT_EQ(Decide(anonymous, Action::kPull, open), "ok");
  EXPECT_EQ(Decide(anonymous, Action::kPush, open), "unauthorized");
  EXPECT_EQ(Decide(anonymous, Action::kLogin, open), "unauthorized");
  EXPECT_EQ(Decide(anonymous, Action::kCatalog, open), "unauthorized");
  // Signed-in users without a role pull there too.
  EXPECT_EQ(Decide(User("dave"), Action::kPull, open), "ok");
  EXPECT_EQ(Decide(User("dave"), Action::kPush, open), "denied");
}

TEST(AccessTest, RobotsHaveTheirScopeAndNoAdminAccess) {
  Identity robot = User("robot+ci", /*admin=*/true);  // a robot is never admin, whatever the flag
  robot.robot = true;
  NamespaceAccess scoped{true, false, "maintainer", std::vector<std::string>{"pull", "bogus"}, {}};
  EXPECT_EQ(Decide(robot, Action::kPull, scoped), "ok");
  EXPECT_EQ(Decide(robot, Action::kPush, scoped), "denied");  // roles don't apply to robots
  EXPECT_EQ(Decide(robot, Action::kPull, Role("publisher")), "denied");
  for (Action a : {Action::kPerson, Action::kAdmin, Action::kMaintain, Action::kSelf}) {
    EXPECT_EQ(Decide(robot, a, scoped, "robot+ci"), "denied") << static_cast<int>(a);
  }
}

TEST(AccessTest, UsersManageOnlyThemselves) {
  EXPECT_EQ(Decide(User("erin"), Action::kSelf, NamespaceAccess{}, "erin"), "ok");
  EXPECT_EQ(Decide(User("erin"), Action::kSelf, NamespaceAccess{}, "frank"), "denied");
}

TEST(AccessTest, TokensMustCarryTheScopeAndTheRoleMustStillAllowIt) {
  Identity bob = User("bob");
  bob.grants = std::vector<Grant>{{"repository", "acme/app", {"pull"}}};
  EXPECT_EQ(Decide(bob, Action::kPull, Role("publisher")), "ok");
  // The role allows a push the token lacks: a new token would carry it.
  EXPECT_EQ(Decide(bob, Action::kPush, Role("publisher")), "unauthorized");
  // The token says pull but the role is gone.
  EXPECT_EQ(Decide(bob, Action::kPull, Role("")), "denied");
  // Another repository's grant covers nothing here.
  EXPECT_EQ(Decide(bob, Action::kPull, Role("publisher"), "acme/other"), "unauthorized");
  // The admin API needs registry:admin:*.
  Identity admin = User("root", true);
  admin.grants = std::vector<Grant>{{"repository", "acme/app", {"pull"}}};
  EXPECT_EQ(Decide(admin, Action::kAdmin, NamespaceAccess{}), "unauthorized");
  admin.grants->push_back(Grant{"registry", "admin", {"*"}});
  EXPECT_EQ(Decide(admin, Action::kAdmin, NamespaceAccess{}), "ok");
}

TEST(AccessTest, PermittedActionsNarrowARequest) {
  Identity bob = User("bob");
  Grant wants{"repository", "acme/app", {"pull", "push", "delete", "*", "bogus"}};
  EXPECT_EQ(PermittedActions(bob, wants, Role("reader")), std::vector<std::string>{"pull"});
  EXPECT_EQ(PermittedActions(bob, wants, Role("publisher")),
            (std::vector<std::string>{"pull", "push", "delete", "*"}));
  Grant bad_name{"repository", "../etc", {"pull"}};
  EXPECT_TRUE(PermittedActions(User("root", true), bad_name, NamespaceAccess{}).empty());
  Grant catalog{"registry", "catalog", {"*"}};
  EXPECT_EQ(PermittedActions(bob, catalog, NamespaceAccess{}), std::vector<std::string>{"*"});
  EXPECT_TRUE(PermittedActions(Identity{}, catalog, NamespaceAccess{}).empty());
}

}  // namespace
}  // namespace keep
