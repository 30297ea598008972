// tests/unit/trust_testdata.h — reading tests/unit/testdata/trust/ (made by
// the openssl commands in its README.md).
#pragma once

#include "core/base64.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

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

}  // namespace keep::trust_test
