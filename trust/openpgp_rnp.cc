// librnp's objects owned, and the small questions asked of it
// (trust/openpgp_rnp.h).
#include "trust/openpgp_rnp.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace keep {
namespace trust_internal {

namespace {

std::string Hex32(rnp_result_t r) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += kDigits[(r >> shift) & 0xf];
  return s;
}

}  // namespace

std::string RnpError(rnp_result_t r) {
  return std::string(rnp_result_to_string(r)) + " (" + Hex32(r) + ")";
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

Result<FfiPtr> NewFfi() {
  rnp_ffi_t ffi = nullptr;
  rnp_result_t r = rnp_ffi_create(&ffi, "GPG", "GPG");
  if (r != RNP_SUCCESS) {
    return Fail(ErrorCode::kInternal, "OpenPGP: librnp could not start: " + RnpError(r));
  }
  return FfiPtr(ffi);
}

InputPtr MemoryInput(std::string_view bytes) {
  rnp_input_t input = nullptr;
  if (rnp_input_from_memory(&input, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                            false) != RNP_SUCCESS) {
    return nullptr;
  }
  return InputPtr(input);
}

std::vector<KeyPtr> AllKeys(rnp_ffi_t ffi) {
  std::vector<KeyPtr> keys;
  rnp_identifier_iterator_t it = nullptr;
  if (rnp_identifier_iterator_create(ffi, &it, "fingerprint") != RNP_SUCCESS) return keys;
  IteratorPtr owned(it);
  const char* fpr = nullptr;
  while (rnp_identifier_iterator_next(it, &fpr) == RNP_SUCCESS && fpr != nullptr) {
    rnp_key_handle_t key = nullptr;
    if (rnp_locate_key(ffi, "fingerprint", fpr, &key) == RNP_SUCCESS && key != nullptr) {
      keys.emplace_back(key);
    }
  }
  return keys;
}

bool IsPrimary(rnp_key_handle_t key) {
  bool primary = false;
  return rnp_key_is_primary(key, &primary) == RNP_SUCCESS && primary;
}

std::string Fingerprint(rnp_key_handle_t key) {
  RnpString fpr;
  if (rnp_key_get_fprint(key, fpr.out()) != RNP_SUCCESS) return {};
  return Upper(fpr.str());
}

std::string AlgorithmName(rnp_key_handle_t key) {
  RnpString alg, curve;
  uint32_t bits = 0;
  if (rnp_key_get_alg(key, alg.out()) != RNP_SUCCESS) return "unknown";
  std::string name = alg.str();
  rnp_key_get_bits(key, &bits);
  if (name == RNP_ALGNAME_RSA || name == RNP_ALGNAME_DSA || name == RNP_ALGNAME_ELGAMAL) {
    std::string lower = name == RNP_ALGNAME_ELGAMAL ? "elgamal"
                        : name == RNP_ALGNAME_DSA   ? "dsa"
                                                    : "rsa";
    return lower + std::to_string(bits);
  }
  std::string curve_name;
  if (rnp_key_get_curve(key, curve.out()) == RNP_SUCCESS) curve_name = curve.str();
  if (name == RNP_ALGNAME_EDDSA && curve_name == "Ed25519") return "ed25519";
  std::string out;
  for (char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!curve_name.empty()) {
    std::string c = curve_name;
    if (c == "NIST P-256")
      c = "p256";
    else if (c == "NIST P-384")
      c = "p384";
    else if (c == "NIST P-521")
      c = "p521";
    for (char& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out += "-" + c;
  }
  return out;
}

rnp_result_t ImportPublic(rnp_ffi_t ffi, std::string_view armored) {
  InputPtr input = MemoryInput(armored);
  if (!input) return RNP_ERROR_BAD_PARAMETERS;
  return rnp_import_keys(ffi, input.get(), RNP_LOAD_SAVE_PUBLIC_KEYS, nullptr);
}

}  // namespace trust_internal
}  // namespace keep
