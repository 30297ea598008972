// trust/key_material.h — when two publisher keys are one key.
//
// A namespace trusts keys in two formats: PEM public keys (ECDSA P-256 and
// Ed25519, for cosign/sigstore and Keep's own signatures) and OpenPGP
// certificates (GPG simple signing). Each entry has an id of its own (the
// canonical key's hash, or the certificate's fingerprint), but one secret
// key can sit behind two entries: as a PEM key and as a key of a
// certificate, or as a subkey of two certificates. Signed once per format,
// it would then count as two signers towards a threshold, and revoking one
// entry would leave it trusted under the other. So an entry is also known by
// the ids of the key material it holds, and a namespace takes no entry that
// shares one with an entry it has, revoked or not.
//
// Pure functions; thread-safe.
#pragma once

#include "core/error.h"

#include <string>
#include <string_view>
#include <vector>

namespace keep {

// The material ids of a publisher key as the admin API stores it:
// `algorithm` "ecdsa-p256" or "ed25519" with `text` a PEM public key: its
// key_id() (trust/keys.h); `algorithm` "openpgp-..." with `text` an armored
// certificate: the material_id of every key in it (OpenPgpKeyMaterialOf,
// trust/openpgp.h), which for ECDSA P-256 and Ed25519 keys is that same
// key_id(). Sorted, without repeats. kInvalid when `text` does not parse.
[[nodiscard]] Result<std::vector<std::string>> KeyMaterialIds(std::string_view algorithm,
                                                              std::string_view text);

}  // namespace keep
