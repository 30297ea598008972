// trust/openpgp.h — OpenPGP ("GPG simple signing") keys and signatures.
//
// What `skopeo copy --sign-by FPR` and `podman push --sign-by FPR` make, and
// push through the signature extension API: an OpenPGP *signed message*
// (RFC 4880 §11.3; `gpg --sign`, binary, usually compressed) whose literal
// data is the simple-signing payload (trust/simple_signing.h, critical.type
// "atomic container signature"). Publishers are trusted by their OpenPGP
// public key, given ASCII-armored (`gpg --armor --export FPR`).
//
// Verification is done in-process by librnp. Every call works in its own,
// fresh rnp_ffi holding only the keys it was given: no keyring, home
// directory or agent is ever read, and no trust database decides anything —
// a key counts exactly when the caller passes it in `trusted`.
//
// A key is named by the fingerprint of its *primary* key, upper-case hex
// (40 characters for a v4 key), as `gpg --with-colons --fingerprint` prints it
// on the first "fpr" line. A signature made by a signing subkey is reported
// under its primary key's fingerprint, as containers/image's `signedBy` does.
//
// Pure functions; thread-safe (no rnp_ffi is shared between calls).
#pragma once

#include "core/error.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

struct OpenPgpKey {
  std::string fingerprint;            // primary key, upper-case hex
  std::vector<std::string> user_ids;  // as stored, e.g. "Name <mail@example>"
  std::string algorithm;              // primary key: "ed25519", "rsa3072", "ecdsa-p256", ...
  std::string armored;                // the public key (primary, user ids, subkeys)
                                      // re-exported by librnp: "\n" line ends, final newline
};

struct OpenPgpVerdict {
  std::string payload;                  // the signed literal data, byte for byte
  std::string fingerprint;              // primary key of the signer (one of `trusted`)
  std::string signing_key_fingerprint;  // the key that signed: the primary or a subkey
  std::int64_t signed_at = 0;           // signature creation time, seconds since the epoch
};

// One key of an OpenPGP certificate, the primary key or a subkey, and the
// id of its key material (OpenPgpKeyMaterialOf).
struct OpenPgpKeyMaterial {
  std::string fingerprint;  // this key's own, upper-case hex
  bool primary = false;
  std::string algorithm;    // as OpenPgpKey::algorithm: "ecdsa-p256", "ed25519", "rsa2048", ...
  std::string material_id;
};

// Parses one ASCII-armored OpenPGP public key ("-----BEGIN PGP PUBLIC KEY
// BLOCK-----"; whitespace around it is allowed). kInvalid, saying what is
// wrong, for a secret key, binary or otherwise unreadable input, a block with
// no primary key or more than one, and a key whose self-signatures do not
// verify. An expired or revoked key parses (its signatures are refused by
// VerifyOpenPgpSignature), so that what a publisher once trusted can be shown.
[[nodiscard]] Result<OpenPgpKey> ParseOpenPgpPublicKey(std::string_view armored);

// Verifies `signature_bytes`, a binary OpenPGP signed message of at most
// 1 MiB whose literal data is at most 1 MiB, against `trusted` only. It must
// carry exactly one signature, and that signature must be good, made by a
// key (or signing subkey) of one of `trusted`, which is neither expired nor
// revoked now. Every refusal is kDenied with a message saying which of these
// failed: malformed or armored/cleartext input, encrypted data, no or several
// signatures, an unknown key (not among `trusted`), a bad signature, an
// expired or revoked key. kInvalid when a `trusted` key cannot be loaded
// (keys should come from ParseOpenPgpPublicKey).
//
// Parse the payload only after this succeeds, and then check it with
// CheckPayload: this function says who signed, not what.
[[nodiscard]] Result<OpenPgpVerdict> VerifyOpenPgpSignature(std::string_view signature_bytes,
                                                            const std::vector<OpenPgpKey>& trusted);

// The key material of every key in the certificate `armored` (as
// ParseOpenPgpPublicKey takes or returns it): its primary key first, then
// each subkey, whatever it may do. A key is named by its material alone, so
// that one key has one name whichever certificate, creation time or format
// it comes in (trust/key_material.h):
//  - ECDSA over NIST P-256, and Ed25519 (EdDSA's legacy point, 0x40 and the
//    32 bytes; or RFC 9580's Ed25519 key, the 32 bytes): the key_id()
//    (trust/keys.h) the same key has as a PEM public key;
//  - any other algorithm (RSA, DSA, ElGamal, ECDH, other curves: none has a
//    PEM form Keep takes): "openpgp-keygrip:" and its keygrip, upper-case
//    hex, a hash of its public material alone (a fingerprint also covers
//    the creation time).
// kInvalid when `armored` cannot be read, or holds no primary key or more
// than one, or a P-256 or Ed25519 key whose material is not a valid key.
[[nodiscard]] Result<std::vector<OpenPgpKeyMaterial>> OpenPgpKeyMaterialOf(
    std::string_view armored);

}  // namespace keep
