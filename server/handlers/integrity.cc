// What the handlers do when stored bytes fail their digest check.
#include "server/handlers/handlers.h"

#include <cstdio>

namespace keep::server::handlers {

Error Damaged(const Services& svc, const Digest& digest, std::string_view what) {
  std::fprintf(stderr,
               "keepd: %.*s %s is damaged on disk (its bytes hash to another digest); it was "
               "not served. Run `keepctl fsck --repair` to quarantine it.\n",
               static_cast<int>(what.size()), what.data(), digest.str().c_str());
  return Fail(ErrorCode::kInternal,
              std::string(what) + " " + digest.str() +
                  " is damaged on the registry's disk and was not served; ask the registry's "
                  "operator to run an integrity check (keepctl fsck), then push it again");
}

}  // namespace keep::server::handlers
