// Fuzzes the parsers of signatures clients push (trust/): OpenPGP signed
// messages (VerifyOpenPgpSignature, through librnp) and armored keys
// (ParseOpenPgpPublicKey), simple-signing payloads (ParseSimpleSigning,
// CheckPayload), PEM public keys (ParsePublicKey), cosign signature
// manifests (ReadCosignSignatures), and sigstore bundles (ReadBundleLayers,
// and VerifyBundles with the input as the bundle blob).
//
// Invariants: nothing crashes or leaks; a message that verifies was signed
// by the one trusted key and carries a payload; refusals are kDenied (or
// kInvalid for keys and payloads); a bundle never verifies with no trusted
// key, and a refused one always says why.
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
    (void)ReadCosignSignatures(manifest);
    if (IsSigstoreBundleManifest(manifest)) (void)ReadBundleLayers(manifest);
  }

  const std::string blob(in);
  const BundleLayer layer{Sha256Of(blob), static_cast<std::int64_t>(blob.size())};
  auto fetch = [&](const Digest&) -> Result<std::string> { return blob; };
  auto target = Digest::Parse("sha256:" + std::string(64, 'b'));
  for (const auto& v : VerifyBundles({layer}, fetch, *target, {})) {
    FUZZ_CHECK(!v.verified && v.key_ids.empty() && !v.reason.empty(), in);
  }
  return 0;
}
