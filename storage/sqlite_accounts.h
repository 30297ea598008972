// storage/sqlite_accounts.h — the account tables of the SQLite metadata
// database: users, robot accounts and their scopes, namespaces and members.
// Internal to storage/: SqliteMetadata forwards the Metadata calls here.
//
// Thread-safe, as the Database it uses.
#pragma once

#include "storage/metadata.h"
#include "storage/sql.h"

namespace keep::sql {

class AccountTables {
 public:
  explicit AccountTables(Database& db) : db_(db) {}

  // Creates the tables, and migrates those of schema `from` (0: new file).
  // REQUIRES: inside the schema transaction on db.writer().
  static void Migrate(Connection& c, int from);

  Result<std::optional<UserRecord>> GetUser(const std::string& name);
  Result<std::int64_t> CreateUser(const UserRecord& user);
  Result<bool> SetPasswordHash(const std::string& name, const std::string& hash);
  Result<bool> UpdateUser(const std::string& name, std::optional<bool> disabled,
                          std::optional<bool> admin);
  Result<std::int64_t> CountUsers();
  Result<std::vector<UserRecord>> ListUsers();

  Result<void> CreateRobot(const RobotRecord& robot);
  Result<std::vector<RobotRecord>> ListRobots();
  Result<bool> DeleteRobot(const std::string& name);

  Result<void> CreateNamespace(const NamespaceRecord& ns);
  Result<std::optional<NamespaceRecord>> GetNamespace(const std::string& name);
  Result<std::vector<NamespaceRecord>> ListNamespaces(std::optional<std::int64_t> member_id);
  Result<bool> SetAnonymousPull(const std::string& name, bool on);
  Result<bool> SetPolicy(const std::string& name, const TrustPolicy& policy);
  Result<bool> DeleteNamespace(const std::string& name);
  Result<void> SetMember(const std::string& ns, std::int64_t user_id, const std::string& role);
  Result<bool> RemoveMember(const std::string& ns, std::int64_t user_id);
  Result<std::vector<MemberRecord>> ListMembers(const std::string& ns);
  Result<std::vector<Membership>> MembershipsOf(std::int64_t user_id);
  Result<NamespaceAccess> AccessIn(const std::string& ns, std::int64_t user_id);

 private:
  Database& db_;
};

}  // namespace keep::sql
