// Fuzzes ValidateRepoName, IsValidTag and NamespaceOf (core/names.h): the
// repository names and tags taken from request paths.
//
// Invariants: both validators agree with the OCI grammar written as a
// regular expression (a differential check against std::regex); a valid
// name is at most 255 characters and holds no empty, "." or ".." component
// (it is used in file paths); NamespaceOf is the first component.
#include "core/names.h"
#include "fuzz_check.h"

#include <regex>

namespace {

using namespace keep;

// The grammars exactly as the OCI Distribution Spec writes them.
const std::regex& NameGrammar() {
  static const std::regex re(
      "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*");
  return re;
}
const std::regex& TagGrammar() {
  static const std::regex re("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
  return re;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keep::fuzz::AsText(data, size);
  std::string s(in);

  auto v = ValidateRepoName(in);
  if (v) {
    FUZZ_CHECK(!in.empty() && in.size() <= kMaxRepoNameLength, in);
    FUZZ_CHECK(in.front() != '/' && in.back() != '/', in);
    FUZZ_CHECK(in.find("//") == std::string_view::npos, in);
    FUZZ_CHECK(in.find("..") == std::string_view::npos, in);
    FUZZ_CHECK(in != "." && in.substr(0, 2) != "./" && in.find("/./") == std::string_view::npos &&
                   (in.size() < 2 || in.substr(in.size() - 2) != "/."),
               in);
    for (char c : in) {
      FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                     c == '-' || c == '/',
                 in);
    }
  } else {
    FUZZ_CHECK(v.error().code == ErrorCode::kNameInvalid, in);
  }
  // std::regex recurses per character: only short inputs (longer ones must be
  // refused by the length limit anyway).
  if (in.size() <= kMaxRepoNameLength) {
    FUZZ_CHECK(static_cast<bool>(v) == std::regex_match(s, NameGrammar()), in);
  }

  bool tag = IsValidTag(in);
  if (in.size() <= 200) {
    FUZZ_CHECK(tag == std::regex_match(s, TagGrammar()), in);
  } else {
    FUZZ_CHECK(!tag, in);
  }
  if (tag) FUZZ_CHECK(in.find(':') == std::string_view::npos && in.find('/') == std::string_view::npos, in);

  std::string_view ns = NamespaceOf(in);
  FUZZ_CHECK(ns.find('/') == std::string_view::npos, in);
  FUZZ_CHECK(in.substr(0, ns.size()) == ns, in);
  FUZZ_CHECK(ns.size() == in.size() || in[ns.size()] == '/', in);
  if (v) FUZZ_CHECK(ValidateRepoName(ns), in);
  return 0;
}
