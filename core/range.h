// core/range.h — byte ranges from HTTP headers.
//
// ParseRange reads a request `Range: bytes=a-b` (one range; "a-" and "-n"
// accepted) against a known size; a range whose last byte precedes its first
// is invalid and, as RFC 9110 §14.1.1 and §14.2 say, ignored: nullopt, and the
// whole representation is served. ParseContentRange reads the upload
// `Content-Range: a-b` (with or without a "bytes " prefix). Values only;
// TrimOws is the header-value trim they and other parsers share.
#pragma once

#include "core/error.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace keep {

struct ByteRange {
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

// kRangeInvalid when syntactically fine but outside [0, size); kBlobUploadInvalid
// when it cannot be parsed. Multiple ranges are refused as unsupported.
// nullopt when the header is to be ignored ("bytes=500-0").
[[nodiscard]] Result<std::optional<ByteRange>> ParseRange(std::string_view header,
                                                          std::uint64_t size);

[[nodiscard]] Result<ByteRange> ParseContentRange(std::string_view header);

// A header value without the optional whitespace (spaces and tabs, RFC 9110
// "OWS") around it.
[[nodiscard]] std::string_view TrimOws(std::string_view s);

}  // namespace keep
