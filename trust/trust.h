// trust/trust.h — the verification core of Keep's signature trust.
//
// What a signature is made of, and whether one is good:
//   trust/keys.h            publisher keys (ECDSA P-256, Ed25519): parse,
//                           verify, and for Keep's own tooling sign/generate
//   trust/simple_signing.h  the signed payload: parse, make, check against the
//                           manifest and repository being verified
//   trust/cosign.h          cosign signature manifests ("sha256-<hex>.sig"):
//                           read, build, and verify each signature layer
//   trust/sigstore_bundle.h cosign v3 signatures: sigstore bundles (DSSE
//                           in-toto statements) attached as OCI referrers
//   trust/rekor.h           the transparency-log material both carry: read
//                           against a closed schema, bound to the signature
//   trust/trusted_root.h    a sigstore trust root: Fulcio CAs, Rekor and CT
//                           log keys, timestamp authorities, validity windows
//   trust/tlog.h            Rekor v1 entries of every kind, and their SET and
//                           signed checkpoint verified with a log key
//   trust/fulcio.h          Fulcio certificates: chain at signing time,
//                           embedded SCT, the identity they name
//   trust/keyless.h         keyless signatures: trusted identities, the
//                           material a bundle or cosign layer carries, and
//                           the offline verification of it
//   trust/openpgp.h         OpenPGP keys and signed messages ("GPG simple
//                           signing", skopeo/podman --sign-by), via librnp
//   trust/key_material.h    which keys, PEM or OpenPGP, are one key
//
// This layer holds no state and knows nothing of storage or HTTP: the caller
// supplies the namespace's trusted keys and a way to fetch payload blobs, and
// gets back, per signature, which key verified it or why it did not. The
// policy built on it (modes, thresholds, quarantine) lives above.
//
// All functions are pure and thread-safe; see each header.
#pragma once

#include "trust/cosign.h"
#include "trust/fulcio.h"
#include "trust/key_material.h"
#include "trust/keyless.h"
#include "trust/keys.h"
#include "trust/openpgp.h"
#include "trust/rekor.h"
#include "trust/sigstore_bundle.h"
#include "trust/simple_signing.h"
#include "trust/tlog.h"
#include "trust/trusted_root.h"
