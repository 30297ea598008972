#include "trust/openpgp.h"

#include "trust/openpgp_rnp.h"

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace keep {

using trust_internal::AlgorithmName;
using trust_internal::AllKeys;
using trust_internal::FfiPtr;
using trust_internal::Fingerprint;
using trust_internal::ImportPublic;
using trust_internal::InputPtr;
using trust_internal::IsPrimary;
using trust_internal::KeyPtr;
using trust_internal::MemoryInput;
using trust_internal::NewFfi;
using trust_internal::OutputPtr;
using trust_internal::RnpError;
using trust_internal::RnpString;
using trust_internal::Upper;
using trust_internal::VerifyPtr;

namespace {

constexpr std::size_t kMaxKeySize = 1 << 20;
constexpr std::size_t kMaxSignatureSize = 1 << 20;
constexpr std::size_t kMaxPayloadSize = 1 << 20;  // as ParseSimpleSigning
constexpr std::string_view kPublicArmor = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
constexpr std::string_view kPrivateArmor = "-----BEGIN PGP PRIVATE KEY BLOCK-----";
constexpr std::string_view kSecretArmor = "-----BEGIN PGP SECRET KEY BLOCK-----";

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string> UserIds(rnp_key_handle_t key) {
  std::vector<std::string> ids;
  size_t count = 0;
  if (rnp_key_get_uid_count(key, &count) != RNP_SUCCESS) return ids;
  for (size_t i = 0; i < count; ++i) {
    RnpString uid;
    if (rnp_key_get_uid_at(key, i, uid.out()) == RNP_SUCCESS) ids.push_back(uid.str());
  }
  return ids;
}

// The public key re-exported armored, with "\n" line ends.
Result<std::string> ExportArmored(rnp_key_handle_t key) {
  rnp_output_t out = nullptr;
  if (rnp_output_to_memory(&out, kMaxKeySize * 2) != RNP_SUCCESS) {
    return Fail(ErrorCode::kInternal, "OpenPGP: librnp could not allocate an output buffer");
  }
  OutputPtr owned(out);
  rnp_result_t r = rnp_key_export(
      key, out, RNP_KEY_EXPORT_ARMORED | RNP_KEY_EXPORT_PUBLIC | RNP_KEY_EXPORT_SUBKEYS);
  uint8_t* buf = nullptr;
  size_t len = 0;
  if (r == RNP_SUCCESS) r = rnp_output_memory_get_buf(out, &buf, &len, false);
  if (r != RNP_SUCCESS) {
    return Fail(ErrorCode::kInternal, "OpenPGP: librnp could not export the key: " + RnpError(r));
  }
  std::string text;
  text.reserve(len);
  for (size_t i = 0; i < len; ++i) {
    if (buf[i] != '\r') text += static_cast<char>(buf[i]);
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

// Why the key `handle` (a signing key or its primary) may not vouch for a
// signature now; empty when it may.
std::string Unusable(rnp_key_handle_t handle, const std::string& fingerprint) {
  bool revoked = false, expired = false;
  if (rnp_key_is_revoked(handle, &revoked) == RNP_SUCCESS && revoked) {
    RnpString reason;
    std::string why;
    if (rnp_key_get_revocation_reason(handle, reason.out()) == RNP_SUCCESS && reason.p != nullptr &&
        *reason.p != '\0') {
      why = " (\"" + reason.str() + "\")";
    }
    return "key " + fingerprint + " is revoked" + why;
  }
  if (rnp_key_is_expired(handle, &expired) == RNP_SUCCESS && expired) {
    return "key " + fingerprint + " has expired";
  }
  uint64_t till = 0;
  if (rnp_key_valid_till64(handle, &till) != RNP_SUCCESS || till == 0) {
    return "key " + fingerprint + " is not valid (its self-signatures do not verify)";
  }
  if (till != UINT64_MAX && till <= static_cast<uint64_t>(std::time(nullptr))) {
    return "key " + fingerprint + " has expired";
  }
  return {};
}

Error Denied(std::string why) {
  return Fail(ErrorCode::kDenied, "OpenPGP signature refused: " + std::move(why));
}

}  // namespace

Result<OpenPgpKey> ParseOpenPgpPublicKey(std::string_view armored) {
  std::string_view text = TrimSpace(armored);
  if (text.size() > kMaxKeySize) {
    return Fail(ErrorCode::kInvalid, "OpenPGP public key: larger than 1 MiB");
  }
  if (text.starts_with(kPrivateArmor) || text.starts_with(kSecretArmor) ||
      text.find(kPrivateArmor) != std::string_view::npos) {
    return Fail(ErrorCode::kInvalid,
                "OpenPGP public key is a secret key: give the public key, as printed by "
                "`gpg --armor --export FINGERPRINT`, and keep the secret key secret");
  }
  if (!text.starts_with(kPublicArmor)) {
    return Fail(ErrorCode::kInvalid,
                "OpenPGP public key: expected an ASCII-armored public key (\"" +
                    std::string(kPublicArmor) +
                    "\"), as printed by `gpg --armor --export "
                    "FINGERPRINT`");
  }

  auto ffi_r = NewFfi();
  if (!ffi_r) return ffi_r.error();
  FfiPtr ffi = std::move(*ffi_r);
  InputPtr input = MemoryInput(text);
  if (!input) return Fail(ErrorCode::kInternal, "OpenPGP: librnp could not read from memory");
  // Secret keys are imported too, only to be refused below rather than silently
  // reduced to their public part.
  rnp_result_t r = rnp_import_keys(ffi.get(), input.get(),
                                   RNP_LOAD_SAVE_PUBLIC_KEYS | RNP_LOAD_SAVE_SECRET_KEYS, nullptr);
  if (r != RNP_SUCCESS) {
    return Fail(ErrorCode::kInvalid,
                "OpenPGP public key: not a valid armored OpenPGP key block: " + RnpError(r));
  }
  size_t secret = 0;
  if (rnp_get_secret_key_count(ffi.get(), &secret) == RNP_SUCCESS && secret > 0) {
    return Fail(ErrorCode::kInvalid,
                "OpenPGP public key holds a secret key: give the public key only, as printed by "
                "`gpg --armor --export FINGERPRINT`");
  }

  std::vector<KeyPtr> keys = AllKeys(ffi.get());
  std::vector<rnp_key_handle_t> primaries;
  for (const KeyPtr& k : keys) {
    if (IsPrimary(k.get())) primaries.push_back(k.get());
  }
  if (primaries.empty()) {
    return Fail(ErrorCode::kInvalid,
                "OpenPGP public key holds no primary key (only " + std::to_string(keys.size()) +
                    " subkey(s)): export the whole key with `gpg --armor --export FINGERPRINT`");
  }
  if (primaries.size() > 1) {
    std::string list;
    for (rnp_key_handle_t k : primaries) list += (list.empty() ? "" : ", ") + Fingerprint(k);
    return Fail(ErrorCode::kInvalid, "OpenPGP public key holds " +
                                         std::to_string(primaries.size()) + " primary keys (" +
                                         list + "): give one key per entry");
  }
  rnp_key_handle_t primary = primaries.front();

  OpenPgpKey key;
  key.fingerprint = Fingerprint(primary);
  if (key.fingerprint.empty()) {
    return Fail(ErrorCode::kInternal, "OpenPGP: librnp gave no fingerprint for the key");
  }
  // librnp reports a revoked key as valid till 0, like one whose
  // self-signatures never verified; only the latter is refused here.
  bool revoked = false;
  uint64_t till = 0;
  if (rnp_key_is_revoked(primary, &revoked) != RNP_SUCCESS ||
      (!revoked && (rnp_key_valid_till64(primary, &till) != RNP_SUCCESS || till == 0))) {
    return Fail(ErrorCode::kInvalid, "OpenPGP public key " + key.fingerprint +
                                         " was never valid: its self-signatures do not verify");
  }
  key.user_ids = UserIds(primary);
  key.algorithm = AlgorithmName(primary);
  auto exported = ExportArmored(primary);
  if (!exported) return exported.error();
  key.armored = std::move(*exported);
  return key;
}

Result<OpenPgpVerdict> VerifyOpenPgpSignature(std::string_view signature_bytes,
                                              const std::vector<OpenPgpKey>& trusted) {
  if (signature_bytes.empty()) return Denied("the signature is empty");
  if (signature_bytes.size() > kMaxSignatureSize) {
    return Denied("the signature is larger than 1 MiB");
  }
  // A binary OpenPGP packet starts with its tag byte, bit 7 set; armor and
  // cleartext signatures start with "-----BEGIN".
  if ((static_cast<unsigned char>(signature_bytes.front()) & 0x80) == 0) {
    return Denied(
        "not a binary OpenPGP message (armored or cleartext signatures are not what "
        "containers/image stores; expected the output of `gpg --sign`)");
  }
  // The first packet's tag (RFC 4880 §4.2): 2 alone is a detached signature.
  const auto first = static_cast<unsigned char>(signature_bytes.front());
  const int tag = (first & 0x40) != 0 ? (first & 0x3f) : ((first >> 2) & 0x0f);
  if (tag == 2) {
    return Denied(
        "a detached signature (`gpg --detach-sign`); containers/image stores a signed "
        "message, the output of `gpg --sign`");
  }
  if (trusted.empty()) return Denied("no trusted OpenPGP keys to verify it with");

  auto ffi_r = NewFfi();
  if (!ffi_r) return ffi_r.error();
  FfiPtr ffi = std::move(*ffi_r);
  for (const OpenPgpKey& key : trusted) {
    rnp_result_t r = ImportPublic(ffi.get(), key.armored);
    if (r != RNP_SUCCESS) {
      return Fail(ErrorCode::kInvalid, "OpenPGP: trusted key " + key.fingerprint +
                                           " could not be loaded: " + RnpError(r));
    }
  }
  size_t secret = 0;
  if (rnp_get_secret_key_count(ffi.get(), &secret) != RNP_SUCCESS || secret != 0) {
    return Fail(ErrorCode::kInternal, "OpenPGP: secret key material among the trusted keys");
  }

  InputPtr input = MemoryInput(signature_bytes);
  rnp_output_t out = nullptr;
  if (!input || rnp_output_to_memory(&out, kMaxPayloadSize) != RNP_SUCCESS) {
    return Fail(ErrorCode::kInternal, "OpenPGP: librnp could not set up its buffers");
  }
  OutputPtr output(out);
  rnp_op_verify_t op_raw = nullptr;
  rnp_result_t r = rnp_op_verify_create(&op_raw, ffi.get(), input.get(), output.get());
  if (r != RNP_SUCCESS) return Denied("librnp could not start verifying: " + RnpError(r));
  VerifyPtr op(op_raw);
  rnp_result_t executed = rnp_op_verify_execute(op.get());

  // Encrypted data is not a signature (and with no secret keys or password
  // librnp cannot read it anyway).
  RnpString mode;
  if (executed == RNP_ERROR_BAD_PASSWORD || executed == RNP_ERROR_DECRYPT_FAILED ||
      executed == RNP_ERROR_NO_SUITABLE_KEY ||
      (rnp_op_verify_get_protection_info(op.get(), mode.out(), nullptr, nullptr) == RNP_SUCCESS &&
       mode.p != nullptr && mode.str() != "none")) {
    return Denied("the message is encrypted; expected a signed message (`gpg --sign`)");
  }
  // The memory output refuses to grow past kMaxPayloadSize (which also stops
  // a small compressed message from inflating without bound).
  if (executed == RNP_ERROR_WRITE) return Denied("the signed payload is larger than 1 MiB");

  size_t count = 0;
  if (rnp_op_verify_get_signature_count(op.get(), &count) != RNP_SUCCESS) count = 0;
  if (count == 0) {
    if (executed == RNP_SUCCESS || executed == RNP_ERROR_NO_SIGNATURES_FOUND) {
      return Denied("the message carries no signature");
    }
    return Denied("malformed OpenPGP message: " + RnpError(executed));
  }
  if (count > 1) {
    return Denied("the message carries " + std::to_string(count) +
                  " signatures; a container signature has exactly one");
  }

  rnp_op_verify_signature_t sig = nullptr;
  if (rnp_op_verify_get_signature_at(op.get(), 0, &sig) != RNP_SUCCESS) {
    return Denied("malformed OpenPGP message: its signature cannot be read");
  }
  rnp_result_t status = rnp_op_verify_signature_get_status(sig);

  // Who signed: the key librnp found among the trusted ones, if any.
  rnp_key_handle_t signer_raw = nullptr;
  rnp_op_verify_signature_get_key(sig, &signer_raw);
  KeyPtr signer(signer_raw);
  if (!signer || status == RNP_ERROR_KEY_NOT_FOUND) {
    std::string issuer;
    rnp_signature_handle_t handle = nullptr;
    if (rnp_op_verify_signature_get_handle(sig, &handle) == RNP_SUCCESS) {
      RnpString fpr, keyid;
      if (rnp_signature_get_key_fprint(handle, fpr.out()) == RNP_SUCCESS && fpr.p != nullptr) {
        issuer = Upper(fpr.str());
      } else if (rnp_signature_get_keyid(handle, keyid.out()) == RNP_SUCCESS &&
                 keyid.p != nullptr) {
        issuer = "with key ID " + Upper(keyid.str());
      }
      rnp_signature_handle_destroy(handle);
    }
    return Denied("signed by an unknown key" + (issuer.empty() ? "" : " " + issuer) +
                  ", which is not one of the " + std::to_string(trusted.size()) +
                  " trusted key(s)");
  }

  OpenPgpVerdict verdict;
  verdict.signing_key_fingerprint = Fingerprint(signer.get());
  KeyPtr primary_owned;
  rnp_key_handle_t primary = signer.get();
  if (!IsPrimary(signer.get())) {
    RnpString pfpr;
    rnp_key_handle_t p = nullptr;
    if (rnp_key_get_primary_fprint(signer.get(), pfpr.out()) != RNP_SUCCESS || pfpr.p == nullptr ||
        rnp_locate_key(ffi.get(), "fingerprint", pfpr.p, &p) != RNP_SUCCESS || p == nullptr) {
      return Denied("signed by subkey " + verdict.signing_key_fingerprint +
                    ", whose primary key is not among the trusted keys");
    }
    primary_owned.reset(p);
    primary = p;
  }
  verdict.fingerprint = Fingerprint(primary);

  // Revocation and expiry, now, of the primary key and the signing subkey:
  // librnp would accept a signature made before a key expired.
  for (rnp_key_handle_t k : {primary, signer.get()}) {
    std::string why = Unusable(k, Fingerprint(k));
    if (!why.empty()) return Denied(why);
  }

  switch (status) {
    case RNP_SUCCESS:
      break;
    case RNP_ERROR_SIGNATURE_INVALID:
      return Denied("bad signature by key " + verdict.fingerprint +
                    ": the payload or the signature was modified, or the key may not sign");
    case RNP_ERROR_SIGNATURE_EXPIRED:
      return Denied("the signature by key " + verdict.fingerprint + " has expired");
    default:
      return Denied("signature by key " + verdict.fingerprint +
                    " could not be verified: " + RnpError(status));
  }
  if (executed != RNP_SUCCESS) {
    return Denied("malformed OpenPGP message: " + RnpError(executed));
  }

  // The caller's own list decides, not merely what librnp imported.
  bool listed = std::any_of(trusted.begin(), trusted.end(), [&](const OpenPgpKey& k) {
    return Upper(k.fingerprint) == verdict.fingerprint;
  });
  if (!listed) {
    return Denied("signed by key " + verdict.fingerprint +
                  ", which is not one of the trusted keys");
  }

  uint32_t created = 0;
  rnp_op_verify_signature_get_times(sig, &created, nullptr);
  verdict.signed_at = created;

  uint8_t* buf = nullptr;
  size_t len = 0;
  if (rnp_output_memory_get_buf(output.get(), &buf, &len, false) != RNP_SUCCESS) {
    return Fail(ErrorCode::kInternal, "OpenPGP: librnp lost the signed payload");
  }
  verdict.payload.assign(reinterpret_cast<const char*>(buf), len);
  return verdict;
}

}  // namespace keep
