// The key material of an OpenPGP certificate (trust/openpgp.h,
// OpenPgpKeyMaterialOf) and of any publisher key (trust/key_material.h).
//
// librnp reads the certificate and reports each key's public material
// (rnp_key_to_json with RNP_JSON_PUBLIC_MPIS). For the two algorithms Keep
// also takes as PEM keys, the material becomes that PEM key: OpenSSL builds
// the SubjectPublicKeyInfo, and trust/keys.cc names it as it names any PEM
// key (its canonical form), so the two formats cannot disagree on an id.
#include "trust/key_material.h"
#include "trust/openpgp.h"
#include "trust/openpgp_rnp.h"
#include "trust/openssl_util.h"

#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <optional>

namespace keep {

using trust_internal::AlgorithmName;
using trust_internal::AllKeys;
using trust_internal::FfiPtr;
using trust_internal::Fingerprint;
using trust_internal::ImportPublic;
using trust_internal::IsPrimary;
using trust_internal::KeyPtr;
using trust_internal::NewFfi;
using trust_internal::PkeyCtxPtr;
using trust_internal::RnpError;
using trust_internal::RnpString;
using trust_internal::Upper;

namespace {

constexpr std::string_view kKeygripPrefix = "openpgp-keygrip:";
constexpr std::size_t kEd25519KeySize = 32;
// EdDSA's legacy point (RFC 4880bis, draft-koch-eddsa-for-openpgp): the
// octet 0x40, then the 32 bytes of the key.
constexpr unsigned char kEdDsaNativePrefix = 0x40;

// Decodes lower- or upper-case hex; nullopt for anything else.
std::optional<std::string> FromHex(std::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// The key_id() of `key` as a PEM public key (trust/keys.h): from the DER
// OpenSSL writes for it, read back as any PEM key is.
Result<std::string> PemKeyIdOf(Pkey key, const std::string& what) {
  unsigned char* der = nullptr;
  int len = key ? i2d_PUBKEY(key.get(), &der) : 0;
  if (len <= 0) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalid, what + ": OpenSSL cannot write its key material as a key");
  }
  std::string spki(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  auto pem_key = KeyAccess::PublicFromDer(spki);
  if (!pem_key) return Fail(ErrorCode::kInvalid, what + ": " + pem_key.error().message);
  return pem_key->key_id();
}

// An ECDSA P-256 key from its point as OpenPGP writes it (SEC 1: 0x04, X, Y).
Result<std::string> P256KeyId(const std::string& point, const std::string& what) {
  char group[] = "prime256v1";
  std::string bytes = point;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, bytes.data(), bytes.size()),
      OSSL_PARAM_construct_end(),
  };
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalid, what + ": its ECDSA P-256 point is not a point on the curve");
  }
  return PemKeyIdOf(Pkey(key), what);
}

// An Ed25519 key from its 32 bytes.
Result<std::string> Ed25519KeyId(std::string_view raw, const std::string& what) {
  Pkey key(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr,
                                          reinterpret_cast<const unsigned char*>(raw.data()),
                                          raw.size()));
  if (!key) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalid, what + ": OpenSSL cannot read its Ed25519 key");
  }
  return PemKeyIdOf(std::move(key), what);
}

// The public point librnp reports for `key`, decoded; empty when none.
std::string PublicPoint(const nlohmann::json& info) {
  const auto* mpis = info.contains("public key") && info["public key"].is_object() &&
                             info["public key"].contains("mpis")
                         ? &info["public key"]["mpis"]
                         : nullptr;
  if (mpis == nullptr || !mpis->is_object() || !mpis->contains("point") ||
      !(*mpis)["point"].is_string()) {
    return {};
  }
  return FromHex((*mpis)["point"].get<std::string>()).value_or(std::string());
}

Result<OpenPgpKeyMaterial> MaterialOf(rnp_key_handle_t handle) {
  OpenPgpKeyMaterial out;
  out.fingerprint = Fingerprint(handle);
  out.primary = IsPrimary(handle);
  out.algorithm = AlgorithmName(handle);
  const std::string what = "OpenPGP " + std::string(out.primary ? "key " : "subkey ") +
                           out.fingerprint;
  RnpString text;
  rnp_result_t r = rnp_key_to_json(handle, RNP_JSON_PUBLIC_MPIS, text.out());
  if (r != RNP_SUCCESS || text.p == nullptr) {
    return Fail(ErrorCode::kInvalid, what + ": librnp cannot describe it: " + RnpError(r));
  }
  nlohmann::json info = nlohmann::json::parse(text.p, nullptr, /*allow_exceptions=*/false);
  if (!info.is_object()) {
    return Fail(ErrorCode::kInternal, what + ": librnp described it in malformed JSON");
  }
  const std::string type = info.value("type", "");
  const std::string curve = info.value("curve", "");
  if (type == RNP_ALGNAME_ECDSA && curve == "NIST P-256") {
    std::string point = PublicPoint(info);
    if (point.empty()) return Fail(ErrorCode::kInvalid, what + ": its ECDSA point is unreadable");
    auto id = P256KeyId(point, what);
    if (!id) return id.error();
    out.material_id = std::move(*id);
    return out;
  }
  // Legacy EdDSA over Ed25519 (algorithm 22), and RFC 9580's Ed25519
  // (algorithm 27, "ED25519" in librnp releases that read it), which some
  // describe with the legacy prefix too.
  if ((type == RNP_ALGNAME_EDDSA && curve == "Ed25519") || type == "ED25519") {
    std::string point = PublicPoint(info);
    std::string_view raw = point;
    if (raw.size() == kEd25519KeySize + 1 &&
        static_cast<unsigned char>(raw.front()) == kEdDsaNativePrefix) {
      raw.remove_prefix(1);
    } else if (type == RNP_ALGNAME_EDDSA || raw.size() != kEd25519KeySize) {
      return Fail(ErrorCode::kInvalid,
                  what + ": its Ed25519 key is not 32 bytes (after the 0x40 prefix)");
    }
    auto id = Ed25519KeyId(raw, what);
    if (!id) return id.error();
    out.material_id = std::move(*id);
    return out;
  }
  RnpString grip;
  if (rnp_key_get_grip(handle, grip.out()) != RNP_SUCCESS || grip.p == nullptr || !*grip.p) {
    return Fail(ErrorCode::kInvalid, what + ": librnp gives no keygrip for it");
  }
  out.material_id = std::string(kKeygripPrefix) + Upper(grip.str());
  return out;
}

}  // namespace

Result<std::vector<OpenPgpKeyMaterial>> OpenPgpKeyMaterialOf(std::string_view armored) {
  auto ffi_r = NewFfi();
  if (!ffi_r) return ffi_r.error();
  FfiPtr ffi = std::move(*ffi_r);
  rnp_result_t r = ImportPublic(ffi.get(), armored);
  if (r != RNP_SUCCESS) {
    return Fail(ErrorCode::kInvalid, "OpenPGP public key cannot be read: " + RnpError(r));
  }
  std::vector<KeyPtr> keys = AllKeys(ffi.get());
  std::size_t primaries = std::count_if(keys.begin(), keys.end(),
                                        [](const KeyPtr& k) { return IsPrimary(k.get()); });
  if (primaries != 1) {
    return Fail(ErrorCode::kInvalid, "OpenPGP public key holds " + std::to_string(primaries) +
                                         " primary keys; expected one");
  }
  // The primary key first, then the subkeys in librnp's order.
  std::stable_partition(keys.begin(), keys.end(),
                        [](const KeyPtr& k) { return IsPrimary(k.get()); });
  std::vector<OpenPgpKeyMaterial> out;
  for (const KeyPtr& k : keys) {
    auto material = MaterialOf(k.get());
    if (!material) return material.error();
    out.push_back(std::move(*material));
  }
  return out;
}

Result<std::vector<std::string>> KeyMaterialIds(std::string_view algorithm,
                                                std::string_view text) {
  std::vector<std::string> ids;
  if (algorithm.starts_with("openpgp")) {
    auto material = OpenPgpKeyMaterialOf(text);
    if (!material) return material.error();
    for (auto& m : *material) ids.push_back(std::move(m.material_id));
  } else {
    auto key = ParsePublicKey(text);
    if (!key) return key.error();
    ids.push_back(key->key_id());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace keep
