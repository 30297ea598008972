// keep_keyless_sign: keyless signatures for the e2e_keyless test, made by the
// tests' private sigstore (tests/support/keyless_fixture.h), since no public
// Fulcio or Rekor is reachable from a test and Debian's skopeo and podman
// cannot sign keylessly.
//
//   keep_keyless_sign DIR ACTION...
//
// makes one private sigstore, writes its trust root to DIR/trusted_root.json,
// then runs each ACTION in order, each with a certificate of its own (Fulcio
// issues one per signing) for the GitHub Actions workflow identity the
// fixture names, unless --subject changed it:
//
//   --subject URI
//       The certificates issued from here on name URI as their subject.
//   cosign NAME REFERENCE DIGEST
//       DIR/NAME: an OCI image layout whose manifest, tagged "sig", is cosign's
//       keyless signature of DIGEST at REFERENCE (HOST:PORT/REPO): the
//       simple-signing payload as its one layer, with the signature, the
//       certificate, the CA chain and the Rekor bundle in the layer's
//       annotations; what `skopeo copy oci:DIR/NAME:sig
//       docker://REFERENCE:sha256-<hex>.sig` pushes unchanged.
//   bundle NAME REFERENCE DIGEST
//       DIR/NAME: cosign v3's signature of DIGEST: a v0.3 sigstore bundle
//       holding a DSSE envelope of cosign's signing statement (its subject
//       named REFERENCE), the certificate and the Rekor entry with its signed
//       entry timestamp, inclusion proof and checkpoint.
//
// The certificates are valid, and the log says they signed, at the fixture's
// fixed time in the past (kSignedAt): a verifier judges a certificate at the
// time the log vouches for. Exits 1 with the reason on stderr on any error.
#include "core/base64.h"
#include "tests/support/keyless_fixture.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace keep::keyless_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kOciConfig[] = "application/vnd.oci.image.config.v1+json";
constexpr char kSimpleSigning[] = "application/vnd.dev.cosign.simplesigning.v1+json";
// cosign's dates for what has none.
constexpr char kZeroTime[] = "0001-01-01T00:00:00Z";

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// "sha256:<hex>" of `digest`, refused unless it is one.
std::string Sha256Hex(const std::string& digest) {
  const std::string prefix = "sha256:";
  std::string hex = digest.substr(0, prefix.size()) == prefix ? digest.substr(prefix.size()) : "";
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw std::runtime_error("not a sha256 digest: '" + digest + "'");
  }
  return hex;
}

// An OCI image layout being filled: blobs by digest, and the one tagged manifest.
class Layout {
 public:
  explicit Layout(fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_ / "blobs" / "sha256");
    WriteFile(dir_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }

  // Stores `bytes`; returns its descriptor with `media_type`.
  json Add(const std::string& bytes, const std::string& media_type) {
    const std::string hex = Hex(Sha256Raw(bytes));
    WriteFile(dir_ / "blobs" / "sha256" / hex, bytes);
    return {{"mediaType", media_type}, {"digest", "sha256:" + hex}, {"size", bytes.size()}};
  }

  void Tag(const json& manifest_descriptor, const std::string& tag) {
    json entry = manifest_descriptor;
    entry["annotations"] = {{"org.opencontainers.image.ref.name", tag}};
    WriteFile(dir_ / "index.json",
              json{{"schemaVersion", 2}, {"manifests", json::array({entry})}}.dump());
  }

 private:
  fs::path dir_;
};

// cosign's simple-signing payload: compact, members in cosign's order (which
// is also sorted order), "optional": null.
std::string SimpleSigning(const std::string& reference, const std::string& digest) {
  return json{{"critical",
               {{"identity", {{"docker-reference", reference}}},
                {"image", {{"docker-manifest-digest", digest}}},
                {"type", "cosign container image signature"}}},
              {"optional", nullptr}}
      .dump();
}

void WriteCosign(Sigstore& sigstore, const LeafOptions& leaf_options, const fs::path& dir,
                 const std::string& reference, const std::string& digest) {
  Sha256Hex(digest);  // refuses anything but a sha256 digest
  const Leaf leaf = sigstore.IssueLeaf(leaf_options);
  const std::string payload = SimpleSigning(reference, digest);
  const std::string signature = SignP256(leaf.key.get(), payload);
  Layout layout(dir);
  json layer = layout.Add(payload, kSimpleSigning);
  layer["annotations"] = {
      {"dev.cosignproject.cosign/signature", EncodeBase64(signature)},
      {"dev.sigstore.cosign/certificate", CertPem(leaf.cert.get())},
      {"dev.sigstore.cosign/chain", sigstore.ChainPem()},
      {"dev.sigstore.cosign/bundle", sigstore.CosignRekorAnnotation(payload, signature, leaf, {})}};
  // cosign's config: an empty image whose one "layer" is the payload.
  const json config = {{"architecture", ""},
                       {"created", kZeroTime},
                       {"history", json::array({{{"created", kZeroTime}}})},
                       {"os", ""},
                       {"rootfs", {{"type", "layers"}, {"diff_ids", {layer["digest"]}}}},
                       {"config", json::object()}};
  const json manifest = {{"schemaVersion", 2},
                         {"mediaType", kOciManifest},
                         {"config", layout.Add(config.dump(), kOciConfig)},
                         {"layers", json::array({layer})}};
  layout.Tag(layout.Add(manifest.dump(), kOciManifest), "sig");
}

void WriteBundle(Sigstore& sigstore, const LeafOptions& leaf_options, const fs::path& file,
                 const std::string& reference, const std::string& digest) {
  const json statement = {
      {"_type", "https://in-toto.io/Statement/v1"},
      {"subject",
       json::array({{{"name", reference}, {"digest", {{"sha256", Sha256Hex(digest)}}}}})},
      {"predicateType", "https://sigstore.dev/cosign/sign/v1"},
      {"predicate", json::object()}};
  const Leaf leaf = sigstore.IssueLeaf(leaf_options);
  WriteFile(file, sigstore.DsseBundleOf(statement.dump(), leaf, {}).dump());
}

int Run(const std::vector<std::string>& args) {
  if (args.empty()) throw std::runtime_error("no output directory");
  const fs::path dir = args[0];
  fs::create_directories(dir);
  Sigstore sigstore;
  WriteFile(dir / "trusted_root.json", sigstore.TrustedRoot().dump(2));
  LeafOptions leaf_options;
  for (std::size_t i = 1; i < args.size();) {
    const std::string& action = args[i];
    const std::size_t left = args.size() - i - 1;
    if (action == "--subject" && left >= 1) {
      leaf_options.subject_uri = args[i + 1];
      i += 2;
    } else if (action == "cosign" && left >= 3) {
      WriteCosign(sigstore, leaf_options, dir / args[i + 1], args[i + 2], args[i + 3]);
      i += 4;
    } else if (action == "bundle" && left >= 3) {
      WriteBundle(sigstore, leaf_options, dir / args[i + 1], args[i + 2], args[i + 3]);
      i += 4;
    } else {
      throw std::runtime_error("unknown or incomplete action '" + action + "'");
    }
  }
  return 0;
}

}  // namespace
}  // namespace keep::keyless_test

int main(int argc, char** argv) {
  try {
    return keep::keyless_test::Run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "keep_keyless_sign: %s\n"
                 "usage: keep_keyless_sign DIR [--subject URI | cosign NAME REFERENCE DIGEST |"
                 " bundle NAME REFERENCE DIGEST]...\n",
                 e.what());
    return 1;
  }
}
