// core/base64.h — base64 text for bytes, and back (RFC 4648).
//
// Two alphabets are in use in Keep: the standard one with '=' padding
// (HTTP Basic credentials, cosign signature annotations, DSSE envelopes,
// sigstore bundles, the signature extension API) and the URL-safe one without
// padding (the segments of Keep's bearer tokens).
//
// Decoding is strict: no whitespace, the padding the alphabet demands, and no
// stray bits in the last character, so one byte string has exactly one text.
// Decoding runs in time independent of the text's content (libsodium), so it
// is fit for secrets such as passwords in a Basic header.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace keep {

enum class Base64Alphabet {
  kStandard,     // A-Z a-z 0-9 + /, padded with '='
  kUrlNoPadding  // A-Z a-z 0-9 - _, no padding
};

[[nodiscard]] std::string EncodeBase64(std::string_view bytes,
                                       Base64Alphabet alphabet = Base64Alphabet::kStandard);

// nullopt when `text` is not exactly a base64 text of `alphabet`.
[[nodiscard]] std::optional<std::string> DecodeBase64(
    std::string_view text, Base64Alphabet alphabet = Base64Alphabet::kStandard);

}  // namespace keep
