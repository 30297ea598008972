#include "mirror/keys.h"

#include "core/base64.h"
#include "storage/secrets.h"

#include <sodium.h>

#include <cstring>

namespace keep::mirror {

Result<Curator> Curator::FromPem(std::string_view pem, const std::string& where) {
  auto key = ParsePrivateKey(pem, "");
  if (!key) {
    return OperatorFault(ErrorCode::kInternal,
                         "the curator key " + where + " is damaged (" + key.error().message +
                             "); move it away to make a new one at the next start");
  }
  return Curator(std::move(*key));
}

std::string Curator::NewPem() {
  auto pair = GenerateKeyPair(kAlgorithmEd25519, "");
  return pair ? pair->private_pem : std::string();
}

Result<Curator> Curator::LoadOrCreate(const std::string& data_dir) {
  std::string path = data_dir + "/curator.key";
  auto pem = FileSecret(path, "the curator key", NewPem);
  if (!pem) return pem.error();
  return FromPem(*pem, path);
}

Result<SecretBox> SecretBox::FromBytes(std::string_view bytes, const std::string& where) {
  SecretBox box;
  if (bytes.size() != box.key_.size()) {
    return OperatorFault(ErrorCode::kInternal, "the mirror's secret key " + where + " is damaged");
  }
  std::memcpy(box.key_.data(), bytes.data(), box.key_.size());
  return box;
}

std::string SecretBox::NewBytes() {
  std::string key(32, '\0');
  randombytes_buf(key.data(), key.size());
  return key;
}

Result<SecretBox> SecretBox::LoadOrCreate(const std::string& data_dir) {
  std::string path = data_dir + "/mirror-secrets.key";
  auto key = FileSecret(path, "the mirror's secret key", NewBytes);
  if (!key) return key.error();
  return FromBytes(*key, path);
}

std::string SecretBox::Seal(std::string_view plain) const {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nonce,
                        key_.data());
  return EncodeBase64(out);
}

Result<std::string> SecretBox::Open(std::string_view sealed) const {
  auto raw = DecodeBase64(sealed);
  if (!raw || raw->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return Fail(ErrorCode::kInternal, "stored credentials are damaged");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  std::string plain(raw->size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(
          reinterpret_cast<unsigned char*>(plain.data()), nonce + crypto_secretbox_NONCEBYTES,
          raw->size() - crypto_secretbox_NONCEBYTES, nonce, key_.data()) != 0) {
    return Fail(ErrorCode::kInternal,
                "stored credentials cannot be opened with mirror-secrets.key (was it replaced?); "
                "give the rule its password again");
  }
  return plain;
}

}  // namespace keep::mirror
