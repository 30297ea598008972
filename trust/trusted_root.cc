#include "trust/trusted_root.h"

#include "core/digest.h"
#include "trust/openssl_util.h"
#include "trust/schema.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::DecodeBoundedBase64;
using trust_internal::ExtraMember;
using trust_internal::IsRfc3339;
using trust_internal::ObjectAt;
using trust_internal::ParseStrictJson;
using trust_internal::Shown;
using trust_internal::StringAt;

constexpr std::size_t kMaxKeyBytes = 4 << 10;
constexpr std::size_t kMaxCertBytes = 16 << 10;
constexpr std::size_t kMaxText = 512;

Error Bad(std::string why) {
  return Fail(ErrorCode::kInvalid, "the trusted root: " + std::move(why));
}

Error Extra(const std::string& where, const std::string& member) {
  return Bad(where + " has an unexpected member \"" + Shown(member) + "\"");
}

// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// An optional string member of at most kMaxText characters.
Result<std::string> OptionalText(const json& parent, const char* name, const std::string& where) {
  auto it = parent.find(name);
  if (it == parent.end()) return std::string();
  if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxText) {
    return Bad(where + "." + name + " is not a string of at most " + std::to_string(kMaxText) +
               " characters");
  }
  return it->get<std::string>();
}

Result<TimeRange> ReadValidFor(const json& parent, const std::string& where) {
  const std::string at = where + ".validFor";
  const json* range = ObjectAt(parent, "validFor");
  if (range == nullptr) return Bad(at + " is missing or not an object");
  if (auto extra = ExtraMember(*range, {"start", "end"})) return Extra(at, *extra);
  TimeRange out;
  const std::string* start = StringAt(*range, "start");
  auto start_s = start ? Rfc3339Seconds(*start) : std::nullopt;
  if (!start_s) return Bad(at + ".start is missing or not an RFC 3339 time");
  out.start = *start_s;
  if (range->contains("end")) {
    const std::string* end = StringAt(*range, "end");
    auto end_s = end ? Rfc3339Seconds(*end) : std::nullopt;
    if (!end_s) return Bad(at + ".end is not an RFC 3339 time");
    if (*end_s < out.start) return Bad(at + " ends before it starts");
    out.end = *end_s;
  }
  return out;
}

// True when `key` is of a type and size `details` names and Keep verifies.
bool KeyMatches(EVP_PKEY* key, std::string_view details) {
  auto curve = [&](std::string_view want) {
    char group[80] = {};
    std::size_t len = 0;
    bool ok = EVP_PKEY_is_a(key, "EC") &&
              EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1 &&
              std::string_view(group, len) == want;
    ERR_clear_error();
    return ok;
  };
  if (details == "PKIX_ECDSA_P256_SHA_256") return curve("prime256v1");
  if (details == "PKIX_ECDSA_P384_SHA_384") return curve("secp384r1");
  if (details == "PKIX_ECDSA_P521_SHA_512") return curve("secp521r1");
  if (details == "PKIX_ED25519") return EVP_PKEY_is_a(key, "ED25519") == 1;
  if (details == "PKCS1_RSA_PKCS1V5" || details == "PKIX_RSA_PKCS1V5" ||
      (details.starts_with("PKIX_RSA_PKCS1V15_") && details.ends_with("_SHA256"))) {
    return EVP_PKEY_is_a(key, "RSA") == 1 && EVP_PKEY_get_bits(key) >= 2048;
  }
  return false;
}

Result<TrustedLog> ReadLog(const json& entry, const std::string& where) {
  if (!entry.is_object()) return Bad(where + " is not an object");
  if (auto extra = ExtraMember(entry, {"baseUrl", "hashAlgorithm", "publicKey", "logId",
                                       "checkpointKeyId", "operator"})) {
    return Extra(where, *extra);
  }
  TrustedLog log;
  auto url = OptionalText(entry, "baseUrl", where);
  if (!url) return url.error();
  log.base_url = std::move(*url);
  if (auto op = OptionalText(entry, "operator", where); !op) return op.error();
  if (entry.contains("hashAlgorithm")) {
    const std::string* hash = StringAt(entry, "hashAlgorithm");
    if (hash == nullptr || *hash != "SHA2_256") {
      return Bad(where + ".hashAlgorithm is not \"SHA2_256\", the only one Keep verifies");
    }
  }
  for (const char* id_name : {"logId", "checkpointKeyId"}) {
    const std::string at = where + "." + id_name;
    if (!entry.contains(id_name)) {
      if (std::string_view(id_name) == "logId") return Bad(at + " is missing");
      continue;
    }
    const json* id = ObjectAt(entry, id_name);
    if (id == nullptr) return Bad(at + " is not an object");
    if (auto extra = ExtraMember(*id, {"keyId"})) return Extra(at, *extra);
    const std::string* key_id = StringAt(*id, "keyId");
    auto raw = key_id ? DecodeBoundedBase64(*key_id, 64) : std::nullopt;
    if (!raw) return Bad(at + ".keyId is not base64 of 1 to 64 bytes");
    if (std::string_view(id_name) == "logId") log.log_id = std::move(*raw);
  }
  const std::string key_at = where + ".publicKey";
  const json* key = ObjectAt(entry, "publicKey");
  if (key == nullptr) return Bad(key_at + " is missing or not an object");
  if (auto extra = ExtraMember(*key, {"rawBytes", "keyDetails", "validFor"})) {
    return Extra(key_at, *extra);
  }
  const std::string* raw = StringAt(*key, "rawBytes");
  auto der = raw ? DecodeBoundedBase64(*raw, kMaxKeyBytes) : std::nullopt;
  if (!der) return Bad(key_at + ".rawBytes is not base64 of a DER key");
  const std::string* details = StringAt(*key, "keyDetails");
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  // PKCS1_RSA_PKCS1V5 (deprecated) is a bare PKCS#1 RSAPublicKey; the rest are SPKI.
  EVP_PKEY* pkey = details != nullptr && *details == "PKCS1_RSA_PKCS1V5"
                       ? d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der->size()))
                       : d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size()));
  ERR_clear_error();
  if (pkey == nullptr || p != reinterpret_cast<const unsigned char*>(der->data()) + der->size()) {
    EVP_PKEY_free(pkey);
    return Bad(key_at + ".rawBytes is not a DER key of its keyDetails");
  }
  log.key = Pkey(pkey);
  log.key_der = std::move(*der);
  if (details == nullptr || !KeyMatches(log.key.get(), *details)) {
    return Bad(key_at + ".keyDetails (\"" + Shown(details ? *details : "") +
               "\") is missing, not one Keep verifies (PKIX_ECDSA_P256_SHA_256, "
               "PKIX_ECDSA_P384_SHA_384, PKIX_ECDSA_P521_SHA_512, PKIX_ED25519, "
               "PKIX_RSA_PKCS1V15_*_SHA256, PKIX_RSA_PKCS1V5, PKCS1_RSA_PKCS1V5), or not the "
               "key's type");
  }
  log.key_details = *details;
  auto valid = ReadValidFor(*key, key_at);
  if (!valid) return valid.error();
  log.valid_for = *valid;
  return log;
}

Result<TrustedAuthority> ReadAuthority(const json& entry, const std::string& where) {
  if (!entry.is_object()) return Bad(where + " is not an object");
  if (auto extra = ExtraMember(entry, {"subject", "uri", "certChain", "validFor", "operator"})) {
    return Extra(where, *extra);
  }
  TrustedAuthority ca;
  auto uri = OptionalText(entry, "uri", where);
  if (!uri) return uri.error();
  ca.uri = std::move(*uri);
  if (auto op = OptionalText(entry, "operator", where); !op) return op.error();
  if (entry.contains("subject")) {
    const json* subject = ObjectAt(entry, "subject");
    if (subject == nullptr) return Bad(where + ".subject is not an object");
    if (auto extra = ExtraMember(*subject, {"organization", "commonName"})) {
      return Extra(where + ".subject", *extra);
    }
    auto org = OptionalText(*subject, "organization", where + ".subject");
    if (!org) return org.error();
    auto cn = OptionalText(*subject, "commonName", where + ".subject");
    if (!cn) return cn.error();
    ca.organization = std::move(*org);
    ca.common_name = std::move(*cn);
  }
  const std::string chain_at = where + ".certChain";
  const json* chain = ObjectAt(entry, "certChain");
  if (chain == nullptr) return Bad(chain_at + " is missing or not an object");
  if (auto extra = ExtraMember(*chain, {"certificates"})) return Extra(chain_at, *extra);
  auto certs = chain->find("certificates");
  if (certs == chain->end() || !certs->is_array() || certs->empty() ||
      certs->size() > kMaxChainCertificates) {
    return Bad(chain_at + ".certificates is not an array of 1 to " +
               std::to_string(kMaxChainCertificates) + " certificates");
  }
  for (const json& cert : *certs) {
    const std::string at = chain_at + ".certificates[" + std::to_string(ca.chain_der.size()) + "]";
    if (auto extra = ExtraMember(cert, {"rawBytes"})) return Extra(at, *extra);
    const std::string* raw = cert.is_object() ? StringAt(cert, "rawBytes") : nullptr;
    auto der = raw ? DecodeBoundedBase64(*raw, kMaxCertBytes) : std::nullopt;
    const auto* p = der ? reinterpret_cast<const unsigned char*>(der->data()) : nullptr;
    X509* x = p ? d2i_X509(nullptr, &p, static_cast<long>(der->size())) : nullptr;
    bool whole =
        x != nullptr && p == reinterpret_cast<const unsigned char*>(der->data()) + der->size();
    X509_free(x);
    ERR_clear_error();
    if (!whole) return Bad(at + ".rawBytes is not base64 of a DER certificate");
    ca.chain_der.push_back(std::move(*der));
  }
  auto valid = ReadValidFor(entry, where);
  if (!valid) return valid.error();
  ca.valid_for = *valid;
  return ca;
}

// Protobuf's JSON writes a member left at its default as null, or leaves it
// out: the same thing, so nulls are dropped before the schema is checked.
void DropNulls(json& value) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end();) {
      if (it->is_null()) {
        it = value.erase(it);
      } else {
        DropNulls(*it);
        ++it;
      }
    }
  } else if (value.is_array()) {
    for (json& item : value) DropNulls(item);
  }
}

template <class T, class Reader>
Result<void> ReadList(const json& root, const char* name, Reader read, std::vector<T>& out) {
  auto it = root.find(name);
  if (it == root.end()) return {};
  if (!it->is_array() || it->size() > kMaxTrustedEntries) {
    return Bad(std::string(name) + " is not an array of at most " +
               std::to_string(kMaxTrustedEntries) + " entries");
  }
  for (const json& entry : *it) {
    auto one = read(entry, std::string(name) + "[" + std::to_string(out.size()) + "]");
    if (!one) return one.error();
    out.push_back(std::move(*one));
  }
  return {};
}

}  // namespace

std::optional<std::int64_t> Rfc3339Seconds(std::string_view t) {
  if (!IsRfc3339(t)) return std::nullopt;
  auto num = [&](std::size_t at, std::size_t len) {
    std::int64_t v = 0;
    for (std::size_t i = at; i < at + len; ++i) v = v * 10 + (t[i] - '0');
    return v;
  };
  std::int64_t days =
      DaysFromCivil(num(0, 4), static_cast<unsigned>(num(5, 2)), static_cast<unsigned>(num(8, 2)));
  std::int64_t secs = days * 86400 + num(11, 2) * 3600 + num(14, 2) * 60 + num(17, 2);
  std::string_view zone = t.substr(t.find_first_of("Z+-", 19));
  if (zone != "Z") {
    std::int64_t offset = num(t.size() - 5, 2) * 3600 + num(t.size() - 2, 2) * 60;
    secs -= zone[0] == '+' ? offset : -offset;
  }
  return secs;
}

Result<TrustedRoot> ParseTrustedRoot(std::string_view text) {
  if (text.size() > kMaxTrustedRootBytes) return Bad("the file is larger than 1 MiB");
  auto parsed = ParseStrictJson(text);
  if (!parsed) return Bad(parsed.error().message);
  DropNulls(*parsed);
  const json& root = *parsed;
  if (!root.is_object()) return Bad("it is not a JSON object");
  if (auto extra = ExtraMember(root, {"mediaType", "tlogs", "certificateAuthorities", "ctlogs",
                                      "timestampAuthorities"})) {
    return Extra("the top level", *extra);
  }
  const std::string* media_type = StringAt(root, "mediaType");
  if (media_type == nullptr ||
      (*media_type != kTrustedRootMediaType01 && *media_type != kTrustedRootMediaTypeV01 &&
       *media_type != kTrustedRootMediaTypeV02)) {
    return Bad("mediaType (\"" + Shown(media_type ? *media_type : "") +
               "\") is not a TrustedRoot v0.1 or v0.2 media type");
  }
  TrustedRoot out;
  out.digest = Sha256Of(text).str();
  if (auto r = ReadList(root, "tlogs", ReadLog, out.tlogs); !r) return r.error();
  if (auto r = ReadList(root, "ctlogs", ReadLog, out.ctlogs); !r) return r.error();
  if (auto r = ReadList(root, "certificateAuthorities", ReadAuthority, out.certificate_authorities);
      !r) {
    return r.error();
  }
  if (auto r = ReadList(root, "timestampAuthorities", ReadAuthority, out.timestamp_authorities);
      !r) {
    return r.error();
  }
  return out;
}

std::vector<const TrustedLog*> LogsFor(const std::vector<TrustedLog>& logs, std::string_view log_id,
                                       std::int64_t time) {
  std::vector<const TrustedLog*> out;
  for (const TrustedLog& log : logs) {
    if (log.log_id == log_id && log.valid_for.Contains(time)) out.push_back(&log);
  }
  return out;
}

bool VerifyWithKey(EVP_PKEY* key, std::string_view data, std::string_view signature) noexcept {
  const EVP_MD* md = nullptr;
  if (EVP_PKEY_is_a(key, "EC")) {
    int bits = EVP_PKEY_get_bits(key);
    md = bits <= 256 ? EVP_sha256() : bits <= 384 ? EVP_sha384() : EVP_sha512();
  } else if (EVP_PKEY_is_a(key, "RSA")) {
    md = EVP_sha256();
  } else if (!EVP_PKEY_is_a(key, "ED25519")) {
    return false;
  }
  trust_internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace keep
