#include "core/names.h"

namespace keep {
namespace {

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool IsValidComponent(std::string_view c) {
  if (c.empty() || !IsAlnumLower(c.front()) || !IsAlnumLower(c.back())) return false;
  std::size_t i = 0;
  while (i < c.size()) {
    if (IsAlnumLower(c[i])) {
      ++i;
      continue;
    }
    // A separator run: ".", "_", "__" or one or more "-".
    std::size_t start = i;
    char s = c[i];
    while (i < c.size() && c[i] == s) ++i;
    std::size_t run = i - start;
    if (s == '.' && run != 1) return false;
    if (s == '_' && run > 2) return false;
    if (s != '.' && s != '_' && s != '-') return false;
    if (i >= c.size() || !IsAlnumLower(c[i])) return false;
  }
  return true;
}

}  // namespace

Result<void> ValidateRepoName(std::string_view name) {
  if (name.empty()) return Fail(ErrorCode::kNameInvalid, "repository name is empty");
  if (name.size() > kMaxRepoNameLength) {
    return Fail(ErrorCode::kNameInvalid,
                "repository name is longer than 255 characters");
  }
  std::size_t start = 0;
  while (true) {
    std::size_t slash = name.find('/', start);
    std::string_view comp = name.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                               : slash - start);
    if (!IsValidComponent(comp)) {
      return Fail(ErrorCode::kNameInvalid,
                  "invalid repository name: each path component must be lower-case letters and "
                  "digits, separated by '.', '_', '__' or '-'");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

bool IsValidTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag[0])) return false;
  for (char c : tag.substr(1)) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

std::string_view NamespaceOf(std::string_view repo) { return repo.substr(0, repo.find('/')); }

Result<void> ValidateNamespaceName(std::string_view name) {
  if (name.find('/') != std::string_view::npos || !ValidateRepoName(name)) {
    return Fail(ErrorCode::kNameInvalid,
                "invalid namespace name; use lowercase letters and digits, separated by "
                "'.', '_' or '-', without '/'");
  }
  return {};
}

Result<void> ValidateAccountName(std::string_view name) {
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool valid = !name.empty() && name.size() <= 64 && ok(name[0]);
  for (char c : name) valid = valid && (ok(c) || c == '.' || c == '_' || c == '-');
  if (!valid) {
    return Fail(ErrorCode::kInvalid,
                "invalid account name; use 1 to 64 lowercase letters, digits, '.', '_' or '-', "
                "starting with a letter or digit");
  }
  return {};
}

Result<void> ValidateSignerName(std::string_view what, std::string_view name) {
  if (!ValidateAccountName(name)) {
    return Fail(ErrorCode::kInvalid, "invalid " + std::string(what) +
                                         " name; use 1 to 64 lowercase letters, digits, '.', '_' "
                                         "or '-', starting with a letter or digit");
  }
  return {};
}

Result<void> ValidateRobotName(std::string_view name) {
  if (name.substr(0, kRobotPrefix.size()) == kRobotPrefix) name.remove_prefix(kRobotPrefix.size());
  return ValidateAccountName(name);
}

Result<Reference> Reference::Parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    auto d = Digest::Parse(text);
    if (!d) return d.error();
    return Reference{*d};
  }
  if (!IsValidTag(text)) {
    return Fail(ErrorCode::kManifestInvalid,
                "invalid tag: up to 128 characters of letters, digits, '_', '.' and '-', not "
                "starting with '.' or '-'");
  }
  return Reference{std::string(text)};
}

}  // namespace keep
