#include "trust/keys.h"

#include "core/digest.h"
#include "trust/openssl_util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>


namespace keep {

using trust_internal::BioPtr;
using trust_internal::CanonicalPublicKey;
using trust_internal::MdCtxPtr;
using trust_internal::P8InfoPtr;
using trust_internal::PkeyCtxPtr;
using trust_internal::X509SigPtr;

namespace {

// The longest DER ECDSA P-256 signature: SEQUENCE { INTEGER(33), INTEGER(33) }.
constexpr std::size_t kMaxEcdsaP256SignatureSize = 72;
constexpr std::size_t kEd25519SignatureSize = 64;
constexpr std::size_t kMaxPassphraseSize = 1024;

bool IsPrivateLabel(std::string_view label) { return label.ends_with("PRIVATE KEY"); }

// Why a PEM block with this label is not a public key.
std::string NotAPublicKey(std::string_view label) {
  if (label == "RSA PUBLIC KEY") {
    return "public key is an RSA key; Keep accepts ECDSA P-256 and Ed25519 keys only";
  }
  if (label == "CERTIFICATE") {
    return "public key is a certificate: give the key itself, as printed by "
           "`openssl x509 -in cert.pem -pubkey -noout`";
  }
  if (IsPrivateLabel(label)) {
    return "public key is a private key (\"" + std::string(label) +
           "\"): give the public key, e.g. from `openssl pkey -in key.pem -pubout` or "
           "cosign.pub, and keep the private key secret";
  }
  return "public key is a PEM \"" + std::string(label) +
         "\" block; expected \"PUBLIC KEY\" (SubjectPublicKeyInfo) holding an ECDSA P-256 or "
         "Ed25519 key";
}

// Why a PEM block with this label is not a PKCS#8 private key.
std::string NotAPrivateKey(std::string_view label) {
  if (label == "EC PRIVATE KEY") {
    return "private key is in SEC1 form (\"EC PRIVATE KEY\"): convert it to PKCS#8 with "
           "`openssl pkcs8 -topk8 -in key.pem`";
  }
  if (label == "ENCRYPTED SIGSTORE PRIVATE KEY" || label == "ENCRYPTED COSIGN PRIVATE KEY") {
    return "private key is in cosign's own encrypted format, which Keep does not read: give a "
           "PKCS#8 PEM key (\"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\")";
  }
  if (label == "PUBLIC KEY") return "private key is a public key: signing needs the private key";
  return "private key is a PEM \"" + std::string(label) +
         "\" block; expected PKCS#8 (\"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\") holding an "
         "ECDSA P-256 or Ed25519 key";
}

bool IsEd25519(std::string_view algorithm) { return algorithm == kAlgorithmEd25519; }

}  // namespace

Pkey::~Pkey() { EVP_PKEY_free(p_); }

Pkey::Pkey(const Pkey& other) noexcept : p_(other.p_) {
  if (p_ != nullptr) EVP_PKEY_up_ref(p_);
}

Result<PublicKey> KeyAccess::PublicFromDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  Pkey given(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!given) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalid,
                "public key: the PEM block does not hold a valid SubjectPublicKeyInfo");
  }
  if (p != end) {
    return Fail(ErrorCode::kInvalid, "public key: extra bytes after the SubjectPublicKeyInfo");
  }
  auto algorithm = trust_internal::SupportedAlgorithm(given.get(), "public key");
  if (!algorithm) return algorithm.error();
  KEEP_TRY(trust_internal::CheckEncoding(der, given.get(), *algorithm));
  // From here on only the key material counts: how it was sent is forgotten.
  auto key = CanonicalPublicKey(given.get(), *algorithm);
  if (!key) return key.error();
  if (!IsEd25519(*algorithm)) {
    // Decoding already refuses points off the curve; this also refuses the
    // point at infinity and anything else the provider's check catches.
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) {
      ERR_clear_error();
      return Fail(ErrorCode::kInvalid, "public key: not a valid point on curve P-256");
    }
  }

  unsigned char* canonical = nullptr;
  int canonical_len = i2d_PUBKEY(key->get(), &canonical);
  if (canonical_len <= 0) {
    ERR_clear_error();
    return Fail(ErrorCode::kInternal, "could not re-encode a public key (OpenSSL i2d_PUBKEY)");
  }
  std::string spki(reinterpret_cast<const char*>(canonical), static_cast<std::size_t>(canonical_len));
  OPENSSL_free(canonical);

  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key->get()) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInternal, "could not write a public key as PEM");
  }

  PublicKey result;
  result.algorithm_ = *algorithm;
  result.key_id_ = Sha256Of(spki).hex();
  result.pem_ = trust_internal::BioContents(out.get());
  result.pkey_ = std::move(*key);
  return result;
}

Result<PrivateKey> KeyAccess::PrivateFrom(Pkey key) {
  auto algorithm = trust_internal::SupportedAlgorithm(key.get(), "private key");
  if (!algorithm) return algorithm.error();
  if (!IsEd25519(*algorithm)) {
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_pairwise_check(check.get()) != 1) {
      ERR_clear_error();
      return Fail(ErrorCode::kInvalid, "private key: its public and private halves do not match");
    }
  }
  unsigned char* der = nullptr;
  int der_len = i2d_PUBKEY(key.get(), &der);
  if (der_len <= 0) {
    ERR_clear_error();
    return Fail(ErrorCode::kInternal, "could not derive the public key of a private key");
  }
  std::string spki(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_len));
  OPENSSL_free(der);
  auto public_key = PublicFromDer(spki);
  if (!public_key) return public_key.error();

  PrivateKey result;
  result.algorithm_ = *algorithm;
  result.public_key_ = std::move(*public_key);
  result.pkey_ = std::move(key);
  return result;
}

Result<PublicKey> ParsePublicKey(std::string_view pem) {
  auto block = trust_internal::ReadOnePem(pem, "public key");
  if (!block) return block.error();
  if (block->label != "PUBLIC KEY") return Fail(ErrorCode::kInvalid, NotAPublicKey(block->label));
  if (block->has_headers) {
    return Fail(ErrorCode::kInvalid, "public key: a \"PUBLIC KEY\" PEM block takes no headers");
  }
  return KeyAccess::PublicFromDer(block->der);
}

bool VerifySignature(const PublicKey& key, std::string_view payload,
                     std::string_view signature) noexcept {
  if (key.evp() == nullptr) return false;
  const bool ed25519 = IsEd25519(key.algorithm());
  if (ed25519 ? signature.size() != kEd25519SignatureSize
              : (signature.empty() || signature.size() > kMaxEcdsaP256SignatureSize)) {
    return false;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  // OpenSSL's ECDSA verification re-encodes the parsed signature and refuses
  // any that is not canonical DER.
  bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr,
                                 key.evp()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(payload.data()),
                             payload.size()) == 1;
  ERR_clear_error();
  return ok;
}

Result<PrivateKey> ParsePrivateKey(std::string_view pem, std::string_view passphrase) {
  auto block = trust_internal::ReadOnePem(pem, "private key");
  if (!block) return block.error();
  if (block->has_headers) {
    return Fail(ErrorCode::kInvalid,
                "private key has PEM encryption headers (a traditional OpenSSL key): convert it to "
                "PKCS#8 with `openssl pkcs8 -topk8`");
  }
  if (passphrase.size() > kMaxPassphraseSize) {
    return Fail(ErrorCode::kInvalid, "passphrase is too long (over 1024 bytes)");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(block->der.data());
  const auto* end = p + block->der.size();
  const long der_len = static_cast<long>(block->der.size());
  P8InfoPtr info;
  if (block->label == "PRIVATE KEY") {
    info.reset(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, der_len));
  } else if (block->label == "ENCRYPTED PRIVATE KEY") {
    X509SigPtr encrypted(d2i_X509_SIG(nullptr, &p, der_len));
    if (!encrypted || p != end) {
      ERR_clear_error();
      return Fail(ErrorCode::kInvalid,
                  "private key: the PEM block does not hold a valid PKCS#8 EncryptedPrivateKeyInfo");
    }
    info.reset(PKCS8_decrypt(encrypted.get(), passphrase.data(), static_cast<int>(passphrase.size())));
    if (!info) {
      ERR_clear_error();
      return Fail(ErrorCode::kInvalid,
                  passphrase.empty()
                      ? "private key is encrypted: its passphrase is needed"
                      : "could not decrypt the private key: wrong passphrase (or an unsupported "
                        "encryption scheme)");
    }
    p = end;
  } else {
    return Fail(ErrorCode::kInvalid, NotAPrivateKey(block->label));
  }
  if (!info || p != end) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalid,
                "private key: the PEM block does not hold a valid PKCS#8 PrivateKeyInfo");
  }
  Pkey key(EVP_PKCS82PKEY(info.get()));
  if (!key) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalid,
                "private key: PKCS#8 holds a key OpenSSL cannot read (unknown algorithm or "
                "malformed key)");
  }
  return KeyAccess::PrivateFrom(std::move(key));
}

Result<std::string> Sign(const PrivateKey& key, std::string_view payload) {
  if (key.evp() == nullptr) return Fail(ErrorCode::kInternal, "Sign called with an empty key");
  const bool ed25519 = IsEd25519(key.algorithm());
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(payload.data());
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr,
                         key.evp()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, payload.size()) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInternal, "OpenSSL could not start a signature");
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, data,
                     payload.size()) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInternal, "OpenSSL could not sign the payload");
  }
  signature.resize(len);
  return signature;
}

}  // namespace keep
