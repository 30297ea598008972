// Fuzzes the parsers of signatures clients push (trust/): OpenPGP signed
// messages (VerifyOpenPgpSignature, through librnp) and armored keys
// (ParseOpenPgpPublicKey), simple-signing payloads (ParseSimpleSigning,
// CheckPayload), PEM public keys (ParsePublicKey), cosign signature
// manifests (ReadCosignSignatures) and their config blobs
// (CheckCosignConfig), sigstore bundles (ReadBundleLayers, and VerifyBundles
// with the input as the bundle blob), and the transparency-log material
// both carry (ReadRekorSet, ReadTlogEntry, ParseCheckpoint).
//
// Invariants: nothing crashes or leaks; a message that verifies was signed
// by the one trusted key and carries a payload; refusals are kDenied (or
// kInvalid for keys, payloads and log material; kManifestInvalid for
// manifests and configs); a bundle never verifies with no trusted key, and
// a refused one always says why; a checkpoint read has a 32-byte root hash
// and an origin of at most 128 characters.
#include "fuzz_check.h"
#include "trust/trust.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace {

using namespace keep;

const std::vector<OpenPgpKey>& TrustedKeys() {
  static const std::vector<OpenPgpKey> keys = [] {
    std::ifstream in(std::string(KEEP_TESTDATA) + "/trust/openpgp/ed25519.pub.asc");
    std::stringstream ss;
    ss << in.rdbuf();
    auto key = ParseOpenPgpPublicKey(ss.str());
    if (!key) {
      std::fprintf(stderr, "fuzz_signature: cannot load the test key: %s\n",
                   key.error().message.c_str());
      std::abort();
    }
    return std::vector<OpenPgpKey>{*key};
  }();
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keep::fuzz::AsText(data, size);
  const auto& trusted = TrustedKeys();

  auto verdict = VerifyOpenPgpSignature(in, trusted);
  if (verdict) {
    FUZZ_CHECK(verdict->fingerprint == trusted.front().fingerprint, in);
  } else {
    FUZZ_CHECK(verdict.error().code == ErrorCode::kDenied, in);
  }

  if (in.find("BEGIN PGP") != std::string_view::npos) {
    auto key = ParseOpenPgpPublicKey(in);
    if (!key) FUZZ_CHECK(key.error().code == ErrorCode::kInvalid, in);
  }
  if (in.find("BEGIN") != std::string_view::npos) (void)ParsePublicKey(in);

  auto payload = ParseSimpleSigning(in);
  if (payload) {
    auto target = Digest::Parse("sha256:" + std::string(64, 'a'));
    (void)CheckPayload(*payload, *target, "acme/app");
  }

  auto manifest = nlohmann::json::parse(in, nullptr, false);
  if (!manifest.is_discarded()) {
    auto layers = ReadCosignSignatures(manifest);
    if (!layers) FUZZ_CHECK(layers.error().code == ErrorCode::kManifestInvalid, in);
    if (IsSigstoreBundleManifest(manifest)) {
      auto bundle_layers = ReadBundleLayers(manifest);
      if (!bundle_layers) FUZZ_CHECK(bundle_layers.error().code == ErrorCode::kManifestInvalid, in);
    }
    if (manifest.is_object()) {
      auto entry = ReadTlogEntry(manifest);
      if (!entry) FUZZ_CHECK(entry.error().code == ErrorCode::kInvalid, in);
    }
  }

  // The input as cosign's config blob, against a fixed layer.
  static const std::vector<CosignLayer> config_layers = {
      CosignLayer{*Digest::Parse("sha256:" + std::string(64, 'c')), 1, "s", {}, {}}};
  auto config = CheckCosignConfig(in, config_layers);
  if (!config) FUZZ_CHECK(config.error().code == ErrorCode::kManifestInvalid, in);

  auto set = ReadRekorSet(in);
  if (set) {
    FUZZ_CHECK(set->payload_sha256.size() == 64 && !set->signature.empty(), in);
  } else {
    FUZZ_CHECK(set.error().code == ErrorCode::kInvalid, in);
  }
  auto checkpoint = ParseCheckpoint(in);
  if (checkpoint) {
    FUZZ_CHECK(checkpoint->root_hash.size() == 32 && !checkpoint->origin.empty() &&
                   checkpoint->origin.size() <= 128 && checkpoint->tree_size >= 0,
               in);
  }

  const std::string blob(in);
  const BundleLayer layer{Sha256Of(blob), static_cast<std::int64_t>(blob.size()), {}};
  auto fetch = [&](const Digest&) -> Result<std::string> { return blob; };
  auto target = Digest::Parse("sha256:" + std::string(64, 'b'));
  for (const auto& v : VerifyBundles({layer}, fetch, *target, "acme/app", {})) {
    FUZZ_CHECK(!v.verified && v.key_ids.empty() && !v.reason.empty(), in);
  }
  return 0;
}
