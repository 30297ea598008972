// trust/schema.h — internal to trust/: closed-schema checks of the JSON that
// signature artifacts are made of.
//
// Keep serves a reader of a signature artifact only what a trusted key signed
// plus the envelope its format requires. Every document of such an artifact
// (its manifest, cosign's config blob, a sigstore bundle, a transparency-log
// entry) is therefore checked against a closed schema: each object may hold
// only the members its format lists, each string and array is bounded, and
// no member name repeats (two readers could otherwise see different values
// in the same bytes). These are the small pieces those checks are built of.
//
// Not part of the module's interface (trust/trust.h does not include it).
// Pure functions; thread-safe.
#pragma once

#include "core/error.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace keep::trust_internal {

// Parses JSON text, refusing a member name repeated within one object.
// kInvalid: "not valid JSON" or "a JSON object repeats a member name \"x\"".
[[nodiscard]] Result<nlohmann::json> ParseStrictJson(std::string_view text);

// The first member of `object` not among `allowed`, or nullopt when there is
// none (or `object` is not an object).
[[nodiscard]] std::optional<std::string> ExtraMember(
    const nlohmann::json& object, std::initializer_list<std::string_view> allowed);

// `text` fit to quote in a message: at most 80 characters, control
// characters, quotes and backslashes replaced by '?'.
[[nodiscard]] std::string Shown(std::string_view text);
// `text` as it is, for quoting whole in a message: a backslash or double
// quote escaped with a backslash, a control character as '?', at most
// `limit` bytes then "...". For identities (a workflow's ref is often
// longer than Shown keeps, and a regular expression's backslashes matter).
[[nodiscard]] std::string Quoted(std::string_view text, std::size_t limit = 512);

// The string member `name` of `object`, or nullptr when it is absent or not a
// string.
[[nodiscard]] const std::string* StringAt(const nlohmann::json& object, std::string_view name);
// The object member `name` of `object`, or nullptr.
[[nodiscard]] const nlohmann::json* ObjectAt(const nlohmann::json& object, std::string_view name);

// An RFC 3339 date-time in upper case, as Go and JavaScript write them:
// "2006-01-02T15:04:05Z", with optional fractional seconds (1 to 9 digits)
// and either "Z" or a "+hh:mm"/"-hh:mm" offset. Fields are range-checked
// (month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60).
[[nodiscard]] bool IsRfc3339(std::string_view text);

// Exactly `size` lower-case hex digits.
[[nodiscard]] bool IsLowerHex(std::string_view text, std::size_t size);

// A non-negative decimal integer with no sign and no leading zero (but "0")
// that fits an int64: how protobuf's JSON writes int64.
[[nodiscard]] bool IsDecimal(std::string_view text);

// The bytes that lower-case hex `text` spells. REQUIRES: IsLowerHex(text, text.size()).
[[nodiscard]] std::string HexToBytes(std::string_view text);

// The bytes of standard, padded base64 text, if it is that and decodes to 1
// to `max_bytes` bytes.
[[nodiscard]] std::optional<std::string> DecodeBoundedBase64(std::string_view text,
                                                             std::size_t max_bytes);

// The decoded base64 string member `name` of `parent` (DecodeBoundedBase64),
// else kInvalid saying "<where>.<name> is not standard base64 of 1 to <max> bytes".
[[nodiscard]] Result<std::string> Base64Member(const nlohmann::json& parent, const char* name,
                                               std::size_t max_bytes, const std::string& where);

}  // namespace keep::trust_internal
