// tests/unit/trust_testdata.h — reading tests/unit/testdata/trust/ (made by
// the openssl commands in its README.md).
#pragma once

#include "core/base64.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace keep::trust_test {

inline std::string Data(const std::string& name) {
  std::ifstream in(std::string(KEEP_TESTDATA) + "/trust/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("missing test data file trust/" + name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// The digest the committed payload.json signs (sha256 of "keep trust test manifest\n").
inline constexpr std::string_view kTarget =
    "sha256:4ca7dd51e12817f0c9a67e24332ca53cc58f6ecb458e2bc8bc2e96f0c2f9f82d";

inline std::string Flipped(std::string s, std::size_t index) {
  s.at(index) = static_cast<char>(s.at(index) ^ 0x01);
  return s;
}

// DER bytes wrapped as a PEM block (one base64 line is valid PEM for OpenSSL).
inline std::string Pem(std::string_view label, std::string_view der) {
  std::string text = EncodeBase64(der);
  std::string lines;
  for (std::size_t i = 0; i < text.size(); i += 64) lines += text.substr(i, 64) + "\n";
  return "-----BEGIN " + std::string(label) + "-----\n" + lines + "-----END " + std::string(label) +
         "-----\n";
}

// The public half of `key` as OpenSSL writes it with this EC point form
// ("uncompressed", "compressed", "hybrid") and parameter encoding
// ("named_curve", "explicit"): what `openssl ec -pubout -conv_form compressed
// -param_enc explicit` prints. Empty if OpenSSL refuses.
inline std::string PublicPemAs(EVP_PKEY* key, const char* form, const char* encoding) {
  EVP_PKEY* copy = EVP_PKEY_dup(key);
  std::string pem;
  BIO* out = BIO_new(BIO_s_mem());
  if (copy != nullptr && out != nullptr &&
      EVP_PKEY_set_utf8_string_param(copy, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form) == 1 &&
      EVP_PKEY_set_utf8_string_param(copy, OSSL_PKEY_PARAM_EC_ENCODING, encoding) == 1 &&
      PEM_write_bio_PUBKEY(out, copy) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(out, &data);
    pem.assign(data, static_cast<std::size_t>(len));
  }
  BIO_free(out);
  EVP_PKEY_free(copy);
  return pem;
}

// Every way OpenSSL writes a P-256 public key: {point form, parameter encoding}.
inline constexpr std::pair<const char*, const char*> kP256Encodings[] = {
    {"uncompressed", "named_curve"}, {"compressed", "named_curve"}, {"hybrid", "named_curve"},
    {"uncompressed", "explicit"},    {"compressed", "explicit"},    {"hybrid", "explicit"},
};

// The DER inside a PEM block.
inline std::string DerOf(const std::string& pem) {
  std::string body;
  std::size_t start = pem.find('\n') + 1;
  for (char c : pem.substr(start, pem.find("-----END") - start)) {
    if (c != '\n' && c != '\r') body += c;
  }
  return DecodeBase64(body).value_or("");
}

}  // namespace keep::trust_test
