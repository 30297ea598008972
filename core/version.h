// core/version.h — what keepd and keepctl were built from, for --version.
//
// The definitions are generated at every build by cmake/version.cmake (the
// target keep_version): the project's VERSION in CMakeLists.txt, and the
// commit as `git describe --always --dirty` names it ("unknown" for sources
// without git history, such as a release tarball). Thread-safe: constants.
#pragma once

#include <string_view>

namespace keep {

std::string_view VersionText();  // "0.1.0"
std::string_view CommitText();   // "7e63f24d1a2b", "7e63f24d1a2b-dirty" or "unknown"

}  // namespace keep
