// AWS Signature Version 4 (storage/sigv4.h).
#include "storage/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>

namespace keep {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string Hex(const unsigned char* p, std::size_t n) {
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 0xf];
  }
  return s;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A header value as signed: outer spaces trimmed, inner runs made one space.
std::string TrimValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

struct Canonical {
  std::string request;
  std::string signed_headers;
};

Canonical Canonicalize(const SigV4Request& r) {
  SigV4Pairs headers;
  for (const auto& [name, value] : r.headers) headers.emplace_back(Lower(name), TrimValue(value));
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }
  std::string path = r.path.empty() ? "/" : SigV4Encode(r.path, true);
  return {r.method + "\n" + path + "\n" + SigV4CanonicalQuery(r.query) + "\n" + canonical_headers +
              "\n" + signed_headers + "\n" + r.payload_hash,
          signed_headers};
}

std::string Scope(const SigV4Key& key, std::string_view amz_date) {
  return std::string(amz_date.substr(0, 8)) + "/" + key.region + "/" + key.service +
         "/aws4_request";
}

std::string Signature(const std::string& canonical_request, const SigV4Key& key,
                      std::string_view amz_date) {
  std::string scope = Scope(key, amz_date);
  std::string to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" +
                        Sha256Hex(canonical_request);
  std::string k = Hmac("AWS4" + key.secret_key, amz_date.substr(0, 8));
  k = Hmac(k, key.region);
  k = Hmac(k, key.service);
  k = Hmac(k, "aws4_request");
  std::string sig = Hmac(k, to_sign);
  return Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

}  // namespace

std::string SigV4Encode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += static_cast<char>("0123456789ABCDEF"[c >> 4]);
      out += static_cast<char>("0123456789ABCDEF"[c & 0xf]);
    }
  }
  return out;
}

std::string SigV4CanonicalQuery(const SigV4Pairs& query) {
  SigV4Pairs encoded;
  for (const auto& [name, value] : query) {
    encoded.emplace_back(SigV4Encode(name, false), SigV4Encode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string SigV4CanonicalRequest(const SigV4Request& request) {
  return Canonicalize(request).request;
}

std::string SigV4Authorization(const SigV4Request& request, const SigV4Key& key,
                               std::string_view amz_date) {
  Canonical c = Canonicalize(request);
  return "AWS4-HMAC-SHA256 Credential=" + key.access_key + "/" + Scope(key, amz_date) +
         ",SignedHeaders=" + c.signed_headers + ",Signature=" + Signature(c.request, key, amz_date);
}

std::string SigV4PresignedQuery(const SigV4Request& request, const SigV4Key& key,
                                std::string_view amz_date, int expires) {
  SigV4Request r = request;
  SigV4Pairs host;
  for (const auto& [name, value] : r.headers) {
    if (Lower(name) == "host") host.emplace_back("host", value);
  }
  r.headers = host;
  r.payload_hash = std::string(kUnsignedPayload);
  r.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  r.query.emplace_back("X-Amz-Credential", key.access_key + "/" + Scope(key, amz_date));
  r.query.emplace_back("X-Amz-Date", std::string(amz_date));
  r.query.emplace_back("X-Amz-Expires", std::to_string(expires));
  r.query.emplace_back("X-Amz-SignedHeaders", "host");
  std::string sig = Signature(Canonicalize(r).request, key, amz_date);
  return SigV4CanonicalQuery(r.query) + "&X-Amz-Signature=" + sig;
}

std::string AmzDate(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return Hex(out, sizeof out);
}

}  // namespace keep
