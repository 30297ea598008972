#include "trust/openssl_util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>


namespace keep {
namespace trust_internal {
namespace {

// PEM key files are a few hundred bytes; anything this big is not one.
constexpr std::size_t kMaxPemSize = 64 * 1024;

constexpr std::string_view kSpace = " \t\r\n";

std::string_view Trim(std::string_view s) {
  auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

}  // namespace

PemBlock::~PemBlock() {
  if (!der.empty()) OPENSSL_cleanse(der.data(), der.size());
}

Result<PemBlock> ReadOnePem(std::string_view text, std::string_view what) {
  const std::string prefix(what);
  std::string_view t = Trim(text);
  if (t.empty()) {
    return Fail(ErrorCode::kInvalid, prefix + " is empty: expected a PEM block (-----BEGIN ...)");
  }
  if (t.size() > kMaxPemSize) {
    return Fail(ErrorCode::kInvalid, prefix + " is too large to be a PEM key (over 64 KiB)");
  }
  if (!t.starts_with("-----BEGIN ")) {
    return Fail(ErrorCode::kInvalid,
                prefix + " is not PEM: it must start with a \"-----BEGIN ...-----\" line");
  }
  BioPtr bio(BIO_new_mem_buf(t.data(), static_cast<int>(t.size())));
  if (!bio) return Fail(ErrorCode::kInternal, "out of memory reading a PEM block");

  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalid,
                prefix + " is not valid PEM: bad base64, or no matching \"-----END ...-----\" line");
  }
  PemBlock block;
  block.label = name;
  block.has_headers = header != nullptr && header[0] != '\0';
  block.der.assign(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_clear_free(data, static_cast<std::size_t>(len));

  char* rest = nullptr;
  long rest_len = BIO_get_mem_data(bio.get(), &rest);
  if (rest_len > 0 && !Trim(std::string_view(rest, static_cast<std::size_t>(rest_len))).empty()) {
    return Fail(ErrorCode::kInvalid, prefix +
                                         " has more after its \"-----END " + block.label +
                                         "-----\" line: give exactly one PEM block");
  }
  return block;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0) return {};
  return std::string(data, static_cast<std::size_t>(len));
}

Result<std::string_view> SupportedAlgorithm(EVP_PKEY* key, std::string_view what) {
  const std::string accepted = "; Keep accepts ECDSA P-256 and Ed25519 keys only";
  const std::string prefix(what);
  if (EVP_PKEY_is_a(key, "ED25519")) return kAlgorithmEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[80] = {};
    std::size_t group_len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &group_len) != 1) {
      ERR_clear_error();
      return Fail(ErrorCode::kInvalid,
                  prefix + " is an EC key with explicit curve parameters (not a named curve)" +
                      accepted);
    }
    std::string_view name(group, group_len);
    if (name == "prime256v1" || name == "P-256") return kAlgorithmEcdsaP256;
    return Fail(ErrorCode::kInvalid,
                prefix + " is an EC key on curve " + std::string(name) + accepted);
  }
  std::string kind;
  if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
    kind = "an RSA key";
  } else if (EVP_PKEY_is_a(key, "ED448")) {
    kind = "an Ed448 key";
  } else if (EVP_PKEY_is_a(key, "X25519") || EVP_PKEY_is_a(key, "X448")) {
    kind = "a key-agreement (X25519/X448) key, not a signing key";
  } else if (EVP_PKEY_is_a(key, "DSA")) {
    kind = "a DSA key";
  } else {
    const char* type = EVP_PKEY_get0_type_name(key);
    kind = std::string("a key of type ") + (type != nullptr ? type : "unknown");
  }
  return Fail(ErrorCode::kInvalid, prefix + " is " + kind + accepted);
}

}  // namespace trust_internal
}  // namespace keep
