// An independent verifier agrees: `keepctl verify-bundle` and sigstore's own
// JavaScript verifier (@sigstore/verify, run by tests/e2e/sigstore/client.js
// verify-keyless) get the same trusted_root.json and the same keyless
// bundles, made by the private sigstore of tests/support/keyless_fixture.h,
// and must accept the same ones and refuse the same ones. Each refused case
// breaks one check alone.
//
// Where the two differ, the case says so with the reason beside it:
// kOnlyKeepRefuses where Keep is stricter on purpose, kOnlyJsRefuses where
// @sigstore/verify is. Both verifiers still run on those cases and must
// answer as listed, so that the list stays true when either side changes.
//
// Node.js and the libraries pinned in tests/e2e/sigstore/package.json must
// be installed (`./keep.sh deps test`); without them the test fails.
#include "tests/cli/run_keepctl.h"
#include "tests/support/keyless_fixture.h"

#include "core/base64.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using keyless_test::kIssuer;
using keyless_test::kSignedAt;
using keyless_test::kSubject;
using keyless_test::Leaf;
using keyless_test::Sigstore;
using nlohmann::json;

const std::string kArtifact = "artifact bytes\n";
const std::string kOtherArtifact = "other artifact bytes\n";
const fs::path kSigstoreJs = fs::path(KEEP_SOURCE_DIR) / "tests" / "e2e" / "sigstore";

constexpr char kV01[] = "application/vnd.dev.sigstore.bundle+json;version=0.1";
constexpr char kV02[] = "application/vnd.dev.sigstore.bundle+json;version=0.2";
constexpr char kV03[] = "application/vnd.dev.sigstore.bundle.v0.3+json";
constexpr char kV03Legacy[] = "application/vnd.dev.sigstore.bundle+json;version=0.3";

std::string Sha256Hex(const std::string& data) {
  return keyless_test::Hex(keyless_test::Sha256Raw(data));
}

// What both verifiers are given.
struct Input {
  json bundle;
  // The artifact: "artifact" or "other-artifact" (files the test writes), or
  // sha256:<hex>. A message signature needs the file: sigstore's verifier
  // checks its signature over the bytes.
  std::string artifact = "artifact";
  std::string subject = kSubject;
  std::string issuer = kIssuer;
};

enum class Expect {
  kBothAccept,
  kBothRefuse,
  kOnlyKeepRefuses,  // Keep is stricter on purpose: the case says why
  kOnlyJsRefuses,    // @sigstore/verify is stricter: the case says why
};

struct Case {
  const char* name;
  Expect expect;
  Input (*make)(Sigstore& sigstore);
};

// gtest names a failing case by its name.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

json MessageBundle(Sigstore& s, const Sigstore::EntryOptions& entry = {},
                   const std::string& media_type = kV03) {
  return s.MessageBundle(kArtifact, s.IssueLeaf(), entry, media_type);
}

json LeafBundle(Sigstore& s, const keyless_test::LeafOptions& leaf) {
  return s.MessageBundle(kArtifact, s.IssueLeaf(leaf), {});
}

// A v0.2 bundle whose certificate chain also carries the first `count`
// certificates of the trust root's CA chain (1: the intermediate; 2: the
// intermediate and the root).
json ChainBundle(Sigstore& s, std::size_t count) {
  json bundle = s.MessageBundle(kArtifact, s.IssueLeaf(), {}, kV02);
  const json root = s.TrustedRoot();
  const json& ca = root["certificateAuthorities"][0]["certChain"]["certificates"];
  json& chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"];
  for (std::size_t i = 0; i < count; ++i) chain.push_back(ca.at(i));
  return bundle;
}

std::string SignatureOf(const json& bundle) {
  return DecodeBase64(bundle["messageSignature"]["signature"].get<std::string>()).value();
}

const Case kCases[] = {
    // Accepted.
    {"MessageSignatureV03", Expect::kBothAccept,
     [](Sigstore& s) { return Input{MessageBundle(s)}; }},
    {"MessageSignatureV03LegacyMediaType", Expect::kBothAccept,
     [](Sigstore& s) { return Input{s.MessageBundle(kArtifact, s.IssueLeaf(), {}, kV03Legacy)}; }},
    {"MessageSignatureV02", Expect::kBothAccept,
     [](Sigstore& s) { return Input{s.MessageBundle(kArtifact, s.IssueLeaf(), {}, kV02)}; }},
    {"MessageSignatureV01", Expect::kBothAccept,
     [](Sigstore& s) { return Input{s.MessageBundle(kArtifact, s.IssueLeaf(), {}, kV01)}; }},
    {"MessageSignatureV02WithIntermediate", Expect::kBothAccept,
     [](Sigstore& s) { return Input{ChainBundle(s, 1)}; }},
    // A v0.1 bundle may have a signed entry timestamp and no inclusion proof.
    {"MessageSignatureV01WithoutProof", Expect::kBothAccept,
     [](Sigstore& s) { return Input{MessageBundle(s, {.proof = false}, kV01)}; }},
    {"LegacyIssuerExtension", Expect::kBothAccept,
     [](Sigstore& s) { return Input{LeafBundle(s, {.legacy_issuer = true})}; }},
    {"DsseEnvelope", Expect::kBothAccept,
     [](Sigstore& s) {
       return Input{s.DsseBundle(Sha256Hex(kArtifact), s.IssueLeaf(), {}),
                    "sha256:" + Sha256Hex(kArtifact)};
     }},
    {"DsseEnvelopeOfTheFile", Expect::kBothAccept,
     [](Sigstore& s) { return Input{s.DsseBundle(Sha256Hex(kArtifact), s.IssueLeaf(), {})}; }},

    // Refused by both, one check failing alone.
    {"WrongIssuer", Expect::kBothRefuse,
     [](Sigstore& s) { return Input{LeafBundle(s, {.issuer = "https://accounts.google.com"})}; }},
    {"AnotherSubject", Expect::kBothRefuse,
     [](Sigstore& s) {
       return Input{.bundle = MessageBundle(s),
                    .subject =
                        "https://github.com/acme/other/.github/workflows/"
                        "release.yml@refs/tags/v1.2.0"};
     }},
    // A subject that is only the start of the certificate's: client.js
    // anchors the policy, which @sigstore/verify otherwise searches for
    // anywhere in the SubjectAltName (String.prototype.match).
    {"SubjectOnlyAPrefix", Expect::kBothRefuse,
     [](Sigstore& s) {
       return Input{.bundle = MessageBundle(s),
                    .subject = std::string(kSubject).substr(0, std::string(kSubject).size() - 2)};
     }},
    {"CertificateExpiredBeforeSigning", Expect::kBothRefuse,
     [](Sigstore& s) {
       return Input{LeafBundle(s, {.not_before = kSignedAt - 600, .not_after = kSignedAt - 60})};
     }},
    {"LoggedAfterTheCertificateExpired", Expect::kBothRefuse,
     [](Sigstore& s) { return Input{MessageBundle(s, {.integrated_time = kSignedAt + 600})}; }},
    {"LoggedBeforeTheCertificateWasValid", Expect::kBothRefuse,
     [](Sigstore& s) { return Input{MessageBundle(s, {.integrated_time = kSignedAt - 120})}; }},
    {"CertificateAuthorityNoLongerValid", Expect::kBothRefuse,
     [](Sigstore& s) {
       s.ca_end = kSignedAt - 3600;
       return Input{MessageBundle(s)};
     }},
    {"EntryForAnotherArtifact", Expect::kBothRefuse,
     [](Sigstore& s) {
       Leaf leaf = s.IssueLeaf();
       json bundle = s.MessageBundle(kArtifact, leaf, {});
       bundle["verificationMaterial"]["tlogEntries"] =
           s.MessageBundle(kOtherArtifact, leaf, {})["verificationMaterial"]["tlogEntries"];
       return Input{bundle};
     }},
    {"MessageSignatureOfAnotherArtifact", Expect::kBothRefuse,
     [](Sigstore& s) { return Input{.bundle = MessageBundle(s), .artifact = "other-artifact"}; }},
    {"DsseStatementOfAnotherArtifact", Expect::kBothRefuse,
     [](Sigstore& s) {
       return Input{s.DsseBundle(Sha256Hex(kOtherArtifact), s.IssueLeaf(), {}),
                    "sha256:" + Sha256Hex(kArtifact)};
     }},
    {"DsseEntryForAnotherStatement", Expect::kBothRefuse,
     [](Sigstore& s) {
       Leaf leaf = s.IssueLeaf();
       json bundle = s.DsseBundle(Sha256Hex(kArtifact), leaf, {});
       bundle["verificationMaterial"]["tlogEntries"] =
           s.DsseBundle(Sha256Hex(kOtherArtifact), leaf, {})["verificationMaterial"]["tlogEntries"];
       return Input{bundle, "sha256:" + Sha256Hex(kArtifact)};
     }},
    // One signer signs an envelope once: a second signature, by another key,
    // is refused (@sigstore/bundle: a v0.3 envelope holds one signature).
    {"DsseEnvelopeWithASecondSignature", Expect::kBothRefuse,
     [](Sigstore& s) {
       json bundle = s.DsseBundle(Sha256Hex(kArtifact), s.IssueLeaf(), {});
       keyless_test::KeyPtr other = keyless_test::NewP256();
       bundle["dsseEnvelope"]["signatures"].push_back(
           {{"sig", EncodeBase64(keyless_test::SignP256(other.get(), "x"))}, {"keyid", ""}});
       return Input{bundle, "sha256:" + Sha256Hex(kArtifact)};
     }},
    {"CorruptedInclusionProof", Expect::kBothRefuse,
     [](Sigstore& s) {
       json bundle = MessageBundle(s);
       json& hash = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][1];
       hash = EncodeBase64(keyless_test::Sha256Raw("not a node of the tree"));
       return Input{bundle};
     }},
    {"ForgedCheckpoint", Expect::kBothRefuse,
     [](Sigstore& s) {
       keyless_test::KeyPtr forger = keyless_test::NewP256();
       return Input{MessageBundle(s, {.checkpoint_key = forger.get()})};
     }},
    {"SignedEntryTimestampByAnUnknownLog", Expect::kBothRefuse,
     [](Sigstore& s) {
       keyless_test::KeyPtr unknown = keyless_test::NewP256();
       return Input{MessageBundle(s, {.proof = false, .log_key = unknown.get()}, kV01)};
     }},
    // The inclusion proof still holds: only the signed entry timestamp breaks.
    {"IntegratedTimeChangedAfterSigning", Expect::kBothRefuse,
     [](Sigstore& s) {
       json bundle = MessageBundle(s);
       bundle["verificationMaterial"]["tlogEntries"][0]["integratedTime"] =
           std::to_string(kSignedAt + 1);
       return Input{bundle};
     }},
    // From v0.2 on, a bundle's entries need an inclusion proof.
    {"MessageSignatureV03WithoutProof", Expect::kBothRefuse,
     [](Sigstore& s) { return Input{MessageBundle(s, {.proof = false})}; }},
    {"NoLogEntry", Expect::kBothRefuse,
     [](Sigstore& s) {
       json bundle = MessageBundle(s);
       bundle["verificationMaterial"]["tlogEntries"] = json::array();
       return Input{bundle};
     }},
    {"SctFromAnUnknownCtLog", Expect::kBothRefuse,
     [](Sigstore& s) {
       keyless_test::KeyPtr unknown = keyless_test::NewP256();
       return Input{LeafBundle(s, {.sct_key = unknown.get()})};
     }},
    {"NoSct", Expect::kBothRefuse,
     [](Sigstore& s) { return Input{LeafBundle(s, {.sct = false})}; }},
    {"LeafFromAnotherCa", Expect::kBothRefuse,
     [](Sigstore& s) { return Input{s.MessageBundle(kArtifact, s.IssueUntrustedLeaf(), {})}; }},

    // Refused by Keep on purpose, accepted by @sigstore/verify 2.1.1.
    //
    // An inclusion proof and its checkpoint sign the entry's body, not its
    // integratedTime: without a signed entry timestamp (or an RFC 3161
    // timestamp) nothing signed says when the certificate was used, and the
    // bundle's own word would choose the certificate's validity window.
    // @sigstore/verify takes integratedTime from the proof-only entry.
    {"InclusionProofWithoutSignedTime", Expect::kOnlyKeepRefuses,
     [](Sigstore& s) { return Input{MessageBundle(s, {.set = false})}; }},
    // The log entry says another certificate made the signature: Keep checks
    // that the logged certificate is the bundle's; @sigstore/verify compares
    // only the logged signature and digest.
    {"EntryLogsAnotherCertificate", Expect::kOnlyKeepRefuses,
     [](Sigstore& s) {
       json bundle = MessageBundle(s);
       Leaf other = s.IssueLeaf();
       const std::string body = Sigstore::HashedRekordBody(
           Sha256Hex(kArtifact), SignatureOf(bundle), keyless_test::CertPem(other.cert.get()));
       bundle["verificationMaterial"]["tlogEntries"] = json::array({s.Entry(body, {})});
       return Input{bundle};
     }},
    // A bundle carries its leaf and at most intermediates; Keep refuses one
    // that carries a root. @sigstore/verify reads only the first certificate.
    {"ChainCarriesTheRoot", Expect::kOnlyKeepRefuses,
     [](Sigstore& s) { return Input{ChainBundle(s, 2)}; }},
    // Fulcio issues code-signing certificates for digital signatures: Keep
    // checks the extended key usage and the key usage, and that the leaf is
    // not a CA. @sigstore/verify checks none of them on the leaf.
    {"LeafWithoutCodeSigning", Expect::kOnlyKeepRefuses,
     [](Sigstore& s) { return Input{LeafBundle(s, {.code_signing = false})}; }},
    {"LeafKeyUsageWithoutDigitalSignature", Expect::kOnlyKeepRefuses,
     [](Sigstore& s) { return Input{LeafBundle(s, {.key_usage = "critical,keyEncipherment"})}; }},
    {"LeafIsACa", Expect::kOnlyKeepRefuses,
     [](Sigstore& s) {
       return Input{
           LeafBundle(s, {.key_usage = "critical,digitalSignature,keyCertSign", .ca = true})};
     }},

    // Accepted by Keep, refused by @sigstore/verify 2.1.1.
    //
    // The bundle names no messageDigest. Keep verifies the signature over the
    // artifact's digest and binds the log entry to that digest, so the
    // member adds nothing it relies on; @sigstore/bundle refuses the bundle
    // as invalid (it requires the member). Reported as a disagreement to
    // settle: Keep accepts what the JavaScript verifier calls malformed.
    {"MessageSignatureWithoutMessageDigest", Expect::kOnlyJsRefuses,
     [](Sigstore& s) {
       json bundle = MessageBundle(s);
       bundle["messageSignature"].erase("messageDigest");
       return Input{bundle};
     }},
    // The checkpoint also carries a witness's cosignature, by a key the trust
    // root does not name. A signed note's verifier skips signatures by
    // unknown keys and needs the log's own to verify, as Keep does;
    // @sigstore/verify requires every signature line to verify with a log
    // key of the trust root, so a witnessed checkpoint fails there.
    {"CheckpointWithAWitnessSignature", Expect::kOnlyJsRefuses,
     [](Sigstore& s) {
       json bundle = MessageBundle(s);
       json& envelope = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
                              ["checkpoint"]["envelope"];
       const std::string note = envelope.get<std::string>();
       const std::string text = note.substr(0, note.find("\n\n") + 1);
       keyless_test::KeyPtr witness = keyless_test::NewP256();
       const std::string hint =
           keyless_test::Sha256Raw(keyless_test::SpkiDer(witness.get())).substr(0, 4);
       envelope = note + "\xe2\x80\x94 witness.example " +
                  EncodeBase64(hint + keyless_test::SignP256(witness.get(), text)) + "\n";
       return Input{bundle};
     }},
};

void Write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "" when node runs and the libraries package.json pins are installed, else
// what is missing.
std::string SigstoreJsMissing(const Keepctl& runner) {
  KeepctlRun node = runner.RunProgram("/usr/bin/env", {"node", "--version"});
  if (node.exit_code != 0) return "node does not run (" + node.err + ")";
  const json pins = json::parse(ReadFile(kSigstoreJs / "package.json"))["dependencies"];
  for (const auto& [name, version] : pins.items()) {
    const fs::path installed = kSigstoreJs / "node_modules" / name / "package.json";
    const std::string text = ReadFile(installed);
    const json have = json::parse(text, nullptr, false);
    if (text.empty() || have.is_discarded() ||
        have.value("version", "") != version.get<std::string>()) {
      return name + " " + version.get<std::string>() + " is not installed in " +
             (kSigstoreJs / "node_modules").string();
    }
  }
  return "";
}

struct AgreeTest : ::testing::TestWithParam<Case> {
  Keepctl keepctl;
  Sigstore sigstore;
  fs::path dir = keepctl.dir();
};

TEST_P(AgreeTest, KeepAndSigstoreJsAgree) {
  const std::string missing = SigstoreJsMissing(keepctl);
  ASSERT_EQ(missing, "") << "sigstore's JavaScript libraries are needed: run ./keep.sh deps test";

  const Case& c = GetParam();
  const Input input = c.make(sigstore);
  Write(dir / "trusted_root.json", sigstore.TrustedRoot().dump());
  Write(dir / "bundle.json", input.bundle.dump());
  Write(dir / "artifact", kArtifact);
  Write(dir / "other-artifact", kOtherArtifact);
  const std::string artifact =
      input.artifact.starts_with("sha256:") ? input.artifact : (dir / input.artifact).string();

  const KeepctlRun keep =
      keepctl.Run({"verify-bundle", "--bundle", (dir / "bundle.json").string(),
                   "--certificate-identity", input.subject, "--certificate-oidc-issuer",
                   input.issuer, "--trusted-root", (dir / "trusted_root.json").string(), artifact});
  const KeepctlRun js = keepctl.RunProgram(
      "/usr/bin/env", {"node", (kSigstoreJs / "client.js").string(), "verify-keyless",
                       (dir / "bundle.json").string(), (dir / "trusted_root.json").string(),
                       artifact, input.issuer, input.subject});
  const bool keep_accepts = c.expect == Expect::kBothAccept || c.expect == Expect::kOnlyJsRefuses;
  const bool js_accepts = c.expect == Expect::kBothAccept || c.expect == Expect::kOnlyKeepRefuses;
  EXPECT_EQ(keep.exit_code, keep_accepts ? 0 : 1) << "keepctl verify-bundle: " << keep;
  EXPECT_EQ(js.exit_code, js_accepts ? 0 : 1) << "@sigstore/verify: " << js;
  // Both say why they refuse.
  if (!keep_accepts) {
    EXPECT_FALSE(keep.err.empty()) << keep;
  }
  if (!js_accepts) {
    EXPECT_FALSE(js.err.empty()) << js;
    EXPECT_EQ(js.err.find("usage:"), std::string::npos) << js;
  }
  std::cout << "keepctl: " << (keep.exit_code == 0 ? keep.out : keep.err)
            << "@sigstore/verify: " << (js.exit_code == 0 ? js.out : js.err);
}

INSTANTIATE_TEST_SUITE_P(Keyless, AgreeTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace keep::testkit
