// GenerateKeyPair: fresh keys written as PKCS#8 PEM.
#include "trust/keys.h"
#include "trust/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdint>

namespace keep {

using trust_internal::AlgorPtr;
using trust_internal::BioPtr;
using trust_internal::P8InfoPtr;
using trust_internal::X509SigPtr;

namespace {

// scrypt cost for encrypted keys: the `openssl pkcs8 -scrypt` defaults. A
// larger N would exceed the 32 MiB that OpenSSL allows scrypt by default when
// it decrypts, so neither Keep nor `openssl pkey` could read the key back.
constexpr std::uint64_t kScryptN = 16384;
constexpr std::uint64_t kScryptR = 8;
constexpr std::uint64_t kScryptP = 1;
constexpr std::size_t kMaxPassphraseSize = 1024;

Error OpenSslFailed(std::string what) {
  ERR_clear_error();
  return Fail(ErrorCode::kInternal, "OpenSSL could not " + what);
}

}  // namespace

Result<KeyPair> GenerateKeyPair(std::string_view algorithm, std::string_view passphrase) {
  if (passphrase.size() > kMaxPassphraseSize) {
    return Fail(ErrorCode::kInvalid, "passphrase is too long (over 1024 bytes)");
  }
  EVP_PKEY* raw = nullptr;
  if (algorithm == kAlgorithmEcdsaP256) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else if (algorithm == kAlgorithmEd25519) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    return Fail(ErrorCode::kInvalid, "key algorithm must be \"ecdsa-p256\" or \"ed25519\", not \"" +
                                         std::string(algorithm.substr(0, 40)) + "\"");
  }
  Pkey key(raw);
  if (!key) return OpenSslFailed("generate a key pair");

  P8InfoPtr info(EVP_PKEY2PKCS8(key.get()));
  // A secure-memory BIO: its buffer is wiped when freed.
  BioPtr out(BIO_new(BIO_s_secmem()));
  if (!info || !out) return OpenSslFailed("encode the private key as PKCS#8");
  if (passphrase.empty()) {
    if (PEM_write_bio_PKCS8_PRIV_KEY_INFO(out.get(), info.get()) != 1) {
      return OpenSslFailed("write the private key as PEM");
    }
  } else {
    // PBES2: scrypt derives an AES-256-CBC key; salt and IV are random.
    AlgorPtr pbe(PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nullptr, 0, nullptr, kScryptN, kScryptR,
                                       kScryptP));
    if (!pbe) return OpenSslFailed("set up scrypt key encryption");
    X509SigPtr encrypted(PKCS8_set0_pbe(passphrase.data(), static_cast<int>(passphrase.size()),
                                        info.get(), pbe.get()));
    if (!encrypted) return OpenSslFailed("encrypt the private key");
    (void)pbe.release();  // now owned by `encrypted`
    if (PEM_write_bio_PKCS8(out.get(), encrypted.get()) != 1) {
      return OpenSslFailed("write the encrypted private key as PEM");
    }
  }

  auto parsed = KeyAccess::PrivateFrom(key);
  if (!parsed) return parsed.error();
  KeyPair pair;
  pair.private_pem = trust_internal::BioContents(out.get());
  pair.public_pem = parsed->public_key().pem();
  pair.key_id = parsed->public_key().key_id();
  return pair;
}

}  // namespace keep
