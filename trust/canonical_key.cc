// One encoding per public key (trust/keys.h, "A key's id"): the same P-256
// key can be written with a compressed, uncompressed or hybrid point, and
// with the named curve or with the curve's parameters spelled out; OpenSSL
// reads all six and, asked to write the key again, keeps the form it read.
// Keep takes those six (and refuses anything else: BER, or explicit
// parameters that are not exactly P-256's), then names the key by its
// material alone: it rebuilds every key from that material before encoding it.
#include "trust/openssl_util.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <array>

namespace keep {
namespace trust_internal {
namespace {

constexpr std::size_t kP256CoordinateSize = 32;
constexpr std::size_t kEd25519KeySize = 32;

using BignumPtr = std::unique_ptr<BIGNUM, Freer<BN_free>>;
using X509PubkeyPtr = std::unique_ptr<X509_PUBKEY, Freer<X509_PUBKEY_free>>;

Error RebuildFailed() {
  ERR_clear_error();
  return Fail(ErrorCode::kInvalid, "public key: OpenSSL could not read its key material");
}

// True when `spki` spells out its curve's parameters (an ECParameters
// SEQUENCE) rather than naming the curve.
bool HasExplicitParameters(std::string_view spki) {
  const auto* p = reinterpret_cast<const unsigned char*>(spki.data());
  X509PubkeyPtr pub(d2i_X509_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  X509_ALGOR* algorithm = nullptr;
  if (!pub || X509_PUBKEY_get0_param(nullptr, nullptr, nullptr, &algorithm, pub.get()) != 1) {
    ERR_clear_error();
    return false;
  }
  int type = V_ASN1_UNDEF;
  X509_ALGOR_get0(nullptr, &type, nullptr, algorithm);
  return type == V_ASN1_SEQUENCE;
}

// The SubjectPublicKeyInfo OpenSSL writes for `key`, in DER.
std::string Der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

// `key` as OpenSSL writes it with this parameter encoding and point form:
// for P-256, one of the six SubjectPublicKeyInfos a P-256 key has in DER
// (the named curve or P-256's own explicit parameters, with the standard
// seed and cofactor 1; the points compressed, uncompressed or hybrid).
std::string Encoded(EVP_PKEY* key, const char* encoding, const char* point_form) {
  Pkey copy(EVP_PKEY_dup(key));
  if (!copy ||
      EVP_PKEY_set_utf8_string_param(copy.get(), OSSL_PKEY_PARAM_EC_ENCODING, encoding) != 1 ||
      EVP_PKEY_set_utf8_string_param(copy.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     point_form) != 1) {
    ERR_clear_error();
    return {};
  }
  return Der(copy.get());
}

Error NotDer() {
  return Fail(ErrorCode::kInvalid,
              "public key: the SubjectPublicKeyInfo is not in DER form (a long-form length, "
              "padding bits in the key, or another BER encoding); write it again with "
              "`openssl pkey -pubin -in key.pem -pubout`");
}

}  // namespace

Result<void> CheckEncoding(std::string_view spki, EVP_PKEY* key, std::string_view algorithm) {
  if (algorithm == kAlgorithmEd25519) {
    if (Der(key) != spki) return NotDer();
    return {};
  }
  for (const char* encoding : {OSSL_PKEY_EC_ENCODING_GROUP, OSSL_PKEY_EC_ENCODING_EXPLICIT}) {
    for (const char* form : {OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED,
                             OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED,
                             OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_HYBRID}) {
      if (Encoded(key, encoding, form) == spki) return {};
    }
  }
  if (!HasExplicitParameters(spki)) return NotDer();
  // OpenSSL took them for P-256's: the prime, coefficients, base point and
  // order match, but not all of the rest (the seed, the cofactor) does.
  return Fail(ErrorCode::kInvalid,
              "public key is an EC key with explicit curve parameters that are not exactly "
              "P-256's (another seed or cofactor, or not in DER form); send the key with the "
              "named curve, as `openssl ec -pubin -in key.pem -param_enc named_curve -pubout` "
              "writes it");
}

Result<Pkey> CanonicalPublicKey(EVP_PKEY* key, std::string_view algorithm) {
  if (algorithm == kAlgorithmEd25519) {
    std::array<unsigned char, kEd25519KeySize> raw{};
    std::size_t len = raw.size();
    if (EVP_PKEY_get_raw_public_key(key, raw.data(), &len) != 1 || len != raw.size()) {
      return RebuildFailed();
    }
    Pkey out(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, raw.data(), len));
    if (!out) return RebuildFailed();
    return out;
  }
  // P-256: the affine coordinates, written as the uncompressed point 04||X||Y
  // on the named curve.
  BIGNUM* x_raw = nullptr;
  BIGNUM* y_raw = nullptr;
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x_raw);
  BignumPtr x(x_raw);
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y_raw);
  BignumPtr y(y_raw);
  std::array<unsigned char, 1 + 2 * kP256CoordinateSize> point{};
  point[0] = POINT_CONVERSION_UNCOMPRESSED;
  if (!x || !y ||
      BN_bn2binpad(x.get(), point.data() + 1, kP256CoordinateSize) != kP256CoordinateSize ||
      BN_bn2binpad(y.get(), point.data() + 1 + kP256CoordinateSize, kP256CoordinateSize) !=
          kP256CoordinateSize) {
    return RebuildFailed();
  }
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* out = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return RebuildFailed();
  }
  return Pkey(out);
}

}  // namespace trust_internal
}  // namespace keep
