#include "core/base64.h"

#include <sodium.h>

#include <cstring>

namespace keep {
namespace {

int Variant(Base64Alphabet alphabet) {
  return alphabet == Base64Alphabet::kStandard ? sodium_base64_VARIANT_ORIGINAL
                                               : sodium_base64_VARIANT_URLSAFE_NO_PADDING;
}

}  // namespace

std::string EncodeBase64(std::string_view bytes, Base64Alphabet alphabet) {
  const int variant = Variant(alphabet);
  // The encoded length counts libsodium's terminating NUL.
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::string> DecodeBase64(std::string_view text, Base64Alphabet alphabet) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, Variant(alphabet)) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

}  // namespace keep
