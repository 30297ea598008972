// Fuzzes ParseRange and ParseContentRange (core/range.h): the Range header
// of blob GETs and the Content-Range header of upload PATCHes.
//
// Input: an optional first line with a blob size in decimal, then the
// header value. Each header is also tried against the sizes 0, 1, 2, 1000,
// 2^63 and 2^64-1.
//
// Invariants: a satisfiable range lies within [0, size) with first <= last
// (an ignored one, last before first, has nothing to check),
// and its length is at most size; refusals carry one of the documented
// codes; a result written back as "bytes=first-last" parses to itself;
// ParseContentRange gives first <= last and round-trips as "first-last".
#include "core/range.h"
#include "fuzz_check.h"

#include <charconv>
#include <limits>
#include <string>

namespace {

using namespace keep;

constexpr std::uint64_t kMaxHeaderNumber = 10'000'000'000'000'000'000u;  // 10^19

void CheckRange(std::string_view header, std::uint64_t size, std::string_view in) {
  auto r = ParseRange(header, size);
  if (!r) {
    auto c = r.error().code;
    FUZZ_CHECK(c == ErrorCode::kBlobUploadInvalid || c == ErrorCode::kRangeInvalid ||
                   c == ErrorCode::kUnsupported,
               in);
    return;
  }
  if (!*r) return;  // an invalid range (last before first), ignored
  const ByteRange& range = **r;
  FUZZ_CHECK(size > 0, in);
  FUZZ_CHECK(range.first <= range.last, in);
  FUZZ_CHECK(range.last < size, in);
  FUZZ_CHECK(range.length() >= 1 && range.length() <= size, in);
  // Written back, it reads the same (headers carry at most 19 digits: blob
  // sizes are int64, so that is every real range).
  if (range.last < kMaxHeaderNumber) {
    std::string canonical =
        "bytes=" + std::to_string(range.first) + "-" + std::to_string(range.last);
    auto again = ParseRange(canonical, size);
    FUZZ_CHECK(again && *again && (*again)->first == range.first && (*again)->last == range.last,
               in);
  }
  // What is satisfiable against a blob is satisfiable against a larger one.
  if (size < std::numeric_limits<std::uint64_t>::max()) {
    auto bigger = ParseRange(header, size + 1);
    FUZZ_CHECK(bigger && *bigger, in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keep::fuzz::AsText(data, size);
  std::string_view header = in;
  std::uint64_t sizes[7] = {0, 1, 2, 1000, std::uint64_t{1} << 63,
                            std::numeric_limits<std::uint64_t>::max(), 0};
  std::size_t n = 6;
  if (auto nl = in.find('\n'); nl != std::string_view::npos) {
    std::string_view first = in.substr(0, nl);
    std::uint64_t s = 0;
    auto [p, ec] = std::from_chars(first.data(), first.data() + first.size(), s);
    if (ec == std::errc() && p == first.data() + first.size()) {
      sizes[n++] = s;
      header = in.substr(nl + 1);
    }
  }
  for (std::size_t i = 0; i < n; ++i) CheckRange(header, sizes[i], in);

  auto cr = ParseContentRange(header);
  if (cr) {
    FUZZ_CHECK(cr->first <= cr->last, in);
    std::string canonical = std::to_string(cr->first) + "-" + std::to_string(cr->last);
    auto again = ParseContentRange(canonical);
    FUZZ_CHECK(again && again->first == cr->first && again->last == cr->last, in);
    auto prefixed = ParseContentRange("bytes " + canonical + "/*");
    FUZZ_CHECK(prefixed && prefixed->first == cr->first && prefixed->last == cr->last, in);
  } else {
    FUZZ_CHECK(cr.error().code == ErrorCode::kBlobUploadInvalid, in);
  }
  return 0;
}
