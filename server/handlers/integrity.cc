// What the handlers do when stored bytes fail their digest check.
#include "server/handlers/handlers.h"

#include <sodium.h>

#include <cstdio>
#include <memory>

namespace keep::server::handlers {

Error Damaged(const Services& svc, const Digest& digest, std::string_view what) {
  auto moved = svc.blobs.Quarantine(digest);
  std::fprintf(stderr,
               "keepd: %.*s %s is damaged on disk (its bytes hash to another digest); it was "
               "not served, %s%s\n",
               static_cast<int>(what.size()), what.data(), digest.str().c_str(),
               moved ? "and the file was moved to " : "and moving it to quarantine failed: ",
               moved ? moved->c_str() : moved.error().message.c_str());
  return Fail(ErrorCode::kInternal,
              std::string(what) + " " + digest.str() +
                  " is damaged on the registry's disk and was not served; ask the registry's "
                  "operator to run an integrity check (keepctl fsck), then push it again");
}

bool SampleRead(const Services& svc) {
  int percent = svc.config.verify_reads_percent;
  return percent >= 100 || (percent > 0 && randombytes_uniform(100) < static_cast<std::uint32_t>(percent));
}

Result<bool> HashesTo(BlobReader& reader, const Digest& digest) {
  constexpr std::size_t kChunk = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  Hasher hasher(digest.algorithm());
  std::uint64_t offset = 0;
  while (offset < reader.size()) {
    auto n = reader.ReadAt(buf.get(), kChunk, offset);
    if (!n) return n.error();
    if (*n == 0) break;
    hasher.Update(buf.get(), *n);
    offset += *n;
  }
  return offset == reader.size() && hasher.Finish() == digest;
}

}  // namespace keep::server::handlers
