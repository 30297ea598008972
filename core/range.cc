#include "core/range.h"

#include <charconv>

namespace keep {

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

namespace {

bool ParseU64(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Error Malformed(std::string_view what) {
  return Fail(ErrorCode::kBlobUploadInvalid, std::string("malformed ") + std::string(what) +
                                                 " header: expected <first>-<last>");
}

}  // namespace

Result<std::optional<ByteRange>> ParseRange(std::string_view header, std::uint64_t size) {
  header = TrimOws(header);
  constexpr std::string_view kPrefix = "bytes=";
  if (header.substr(0, kPrefix.size()) != kPrefix) return Malformed("Range");
  std::string_view spec = TrimOws(header.substr(kPrefix.size()));
  if (spec.find(',') != std::string_view::npos) {
    return Fail(ErrorCode::kUnsupported, "only a single byte range is supported");
  }
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return Malformed("Range");
  std::string_view a = TrimOws(spec.substr(0, dash)), b = TrimOws(spec.substr(dash + 1));
  ByteRange r;
  if (a.empty()) {  // suffix: the last n bytes
    std::uint64_t n;
    if (!ParseU64(b, n)) return Malformed("Range");
    if (n == 0 || size == 0) return Fail(ErrorCode::kRangeInvalid, "range not satisfiable");
    r.first = n >= size ? 0 : size - n;
    r.last = size - 1;
    return r;
  }
  if (!ParseU64(a, r.first)) return Malformed("Range");
  if (b.empty()) {
    r.last = size == 0 ? 0 : size - 1;
  } else if (!ParseU64(b, r.last)) {
    return Malformed("Range");
  } else if (r.last < r.first) {
    return std::nullopt;  // an invalid range-spec: the header is ignored
  }
  if (r.first >= size) return Fail(ErrorCode::kRangeInvalid, "range not satisfiable");
  if (r.last >= size) r.last = size - 1;
  return r;
}

Result<ByteRange> ParseContentRange(std::string_view header) {
  header = TrimOws(header);
  if (header.substr(0, 6) == "bytes ") header = TrimOws(header.substr(6));
  if (header.substr(0, 6) == "bytes=") header = TrimOws(header.substr(6));
  auto slash = header.find('/');  // "a-b/total": the total is ignored
  if (slash != std::string_view::npos) header = header.substr(0, slash);
  auto dash = header.find('-');
  if (dash == std::string_view::npos) return Malformed("Content-Range");
  ByteRange r;
  if (!ParseU64(TrimOws(header.substr(0, dash)), r.first) ||
      !ParseU64(TrimOws(header.substr(dash + 1)), r.last) || r.last < r.first) {
    return Malformed("Content-Range");
  }
  return r;
}

}  // namespace keep
