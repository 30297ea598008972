// storage/sigv4.h — AWS Signature Version 4 for S3 requests, on OpenSSL.
//
// The canonical request is built the way S3 checks it: the path encoded
// RFC 3986-style (unreserved characters kept, '/' kept between segments),
// query parameters encoded and sorted by name then value, a key with no
// value signed as "key=", header names lower-cased and sorted with their
// values trimmed, and the payload's hash (or UNSIGNED-PAYLOAD) both signed
// and sent as x-amz-content-sha256. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keep {

struct SigV4Key {
  std::string access_key;
  std::string secret_key;
  std::string region = "us-east-1";
  std::string service = "s3";
};

using SigV4Pairs = std::vector<std::pair<std::string, std::string>>;

struct SigV4Request {
  std::string method;        // "GET", "PUT", ...
  std::string path;          // not yet encoded: "/bucket/blobs/sha256/ab"
  SigV4Pairs query;          // not yet encoded; any order
  SigV4Pairs headers;        // to sign; must include "host" (names in any case)
  std::string payload_hash;  // lower-case hex sha256 of the body, or "UNSIGNED-PAYLOAD"
};

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// RFC 3986 percent-encoding as SigV4 wants it; '/' kept when keep_slash.
[[nodiscard]] std::string SigV4Encode(std::string_view s, bool keep_slash);
// "a=1&b=" from the pairs: encoded, sorted.
[[nodiscard]] std::string SigV4CanonicalQuery(const SigV4Pairs& query);
[[nodiscard]] std::string SigV4CanonicalRequest(const SigV4Request& request);
// The Authorization header's value for a request made at amz_date
// ("20130524T000000Z"; the request must carry it as x-amz-date).
[[nodiscard]] std::string SigV4Authorization(const SigV4Request& request, const SigV4Key& key,
                                             std::string_view amz_date);
// The query string of a presigned URL for request (whose query it extends),
// valid for `expires` seconds from amz_date; only "host" is signed.
[[nodiscard]] std::string SigV4PresignedQuery(const SigV4Request& request, const SigV4Key& key,
                                              std::string_view amz_date, int expires);
// "20130524T000000Z" for a unix time.
[[nodiscard]] std::string AmzDate(std::int64_t unix_seconds);
[[nodiscard]] std::string Sha256Hex(std::string_view data);

}  // namespace keep
