// core/names.h — repository names, tags and references (OCI grammar).
//
// A RepoName is validated against the OCI Distribution name grammar:
//   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
// at most 255 characters. Since every component starts and ends with
// [a-z0-9] and contains no '/', a valid name never holds "..", "." or an empty
// component, and is safe to use in paths. Plain values; thread-safe.
#pragma once

#include "core/digest.h"
#include "core/error.h"

#include <string>
#include <string_view>
#include <variant>

namespace keep {

inline constexpr std::size_t kMaxRepoNameLength = 255;

[[nodiscard]] Result<void> ValidateRepoName(std::string_view name);

// Tags: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
[[nodiscard]] bool IsValidTag(std::string_view tag);

// The namespace of a repository: its first path component.
std::string_view NamespaceOf(std::string_view repo);
// A namespace name: one repository name component (no '/'). kNameInvalid.
[[nodiscard]] Result<void> ValidateNamespaceName(std::string_view name);

// Account names: [a-z0-9][a-z0-9._-]{0,63}. kInvalid.
[[nodiscard]] Result<void> ValidateAccountName(std::string_view name);
// Robot accounts sign in as "robot+<name>", <name> an account name.
inline constexpr std::string_view kRobotPrefix = "robot+";
// "<name>" or "robot+<name>". kInvalid.
[[nodiscard]] Result<void> ValidateRobotName(std::string_view name);

// The name of a keyless identity or of a trust root: the grammar of account
// names; `what` ("identity", "trust root") names it in the refusal. kInvalid.
[[nodiscard]] Result<void> ValidateSignerName(std::string_view what, std::string_view name);

// A manifest reference: a tag or a digest.
struct Reference {
  std::variant<std::string, Digest> value;

  bool is_digest() const { return std::holds_alternative<Digest>(value); }
  const Digest& digest() const { return std::get<Digest>(value); }
  const std::string& tag() const { return std::get<std::string>(value); }
  std::string str() const { return is_digest() ? digest().str() : tag(); }

  // A reference containing ':' is read as a digest, anything else as a tag.
  [[nodiscard]] static Result<Reference> Parse(std::string_view text);
};

}  // namespace keep
