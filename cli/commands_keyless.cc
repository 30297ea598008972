// keepctl verify-bundle: the verify half of sigstore-conformance's CLI
// protocol, offline, on the same verifier keepd uses (trust/keyless.h).
#include "cli/commands.h"

#include "core/digest.h"
#include "trust/keyless.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iostream>

namespace keep::cli {
namespace {

// Artifacts up to this size are kept whole (an Ed25519 signature needs the
// bytes); larger ones are only hashed.
constexpr std::size_t kKeepBytes = 16 << 20;

// "sha256:<64 hex>" that names no file: a digest; anything else: a file.
Result<SignedArtifact> ReadArtifact(const std::string& arg) {
  struct stat st {};
  if (arg.starts_with("sha256:") && ::stat(arg.c_str(), &st) != 0) {
    if (auto digest = Digest::Parse(arg)) return SignedArtifact{*digest, std::nullopt};
  }
  std::ifstream in(arg, std::ios::binary);
  if (!in) return Failed("cannot read the artifact " + arg);
  Hasher hasher;
  std::string bytes;
  bool keep = true;
  std::string buffer(256 << 10, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    auto got = static_cast<std::size_t>(in.gcount());
    hasher.Update(buffer.data(), got);
    keep = keep && bytes.size() + got <= kKeepBytes;
    if (keep) bytes.append(buffer, 0, got);
  }
  if (in.bad()) return Failed("cannot read the artifact " + arg);
  SignedArtifact out{hasher.Finish(), std::nullopt};
  if (keep) out.bytes = std::move(bytes);
  return out;
}

}  // namespace

Result<void> VerifyBundle(const Invocation& inv) {
  const std::string command = inv.command->FullName();
  const bool by_key = inv.Has("key");
  const bool by_identity =
      inv.Has("certificate-identity") || inv.Has("certificate-identity-regexp");
  if (by_key == (by_identity || inv.Has("certificate-oidc-issuer"))) {
    return Usage(
        "give either --key, or --certificate-identity (or -regexp) with "
        "--certificate-oidc-issuer",
        command);
  }
  if (by_identity != inv.Has("certificate-oidc-issuer")) {
    return Usage("--certificate-identity needs --certificate-oidc-issuer, and back", command);
  }
  std::optional<std::string> root_path = inv.Value("trusted-root");
  if (!root_path) {
    if (const char* env = std::getenv("KEEPCTL_TRUSTED_ROOT"); env != nullptr && *env != '\0') {
      root_path = env;
    }
  }
  if (!root_path) {
    return Failed(
        "no trust root: Keep holds none of its own and never fetches one",
        "give --trusted-root FILE (or KEEPCTL_TRUSTED_ROOT): sigstore's trusted_root.json,\n"
        "from its TUF repository or the copy inside the @sigstore/tuf npm package");
  }
  auto root_text = ReadSmallFile(*root_path, kMaxTrustedRootBytes);
  if (!root_text) return root_text.error();
  auto root = ParseTrustedRoot(*root_text);
  if (!root) return Failed(*root_path + ": " + root.error().message);

  auto bundle_text = ReadSmallFile(*inv.Value("bundle"), kMaxSignedBundleBytes);
  if (!bundle_text) return bundle_text.error();
  auto material = ReadSignedMaterial(*bundle_text);
  if (!material) return Failed(*inv.Value("bundle") + ": " + material.error().message);

  TrustedSigners signers;
  if (by_key) {
    auto pem = ReadSmallFile(*inv.Value("key"), 64 << 10);
    if (!pem) return pem.error();
    auto key = ParsePublicKey(*pem);
    if (!key) return Failed(*inv.Value("key") + ": " + key.error().message);
    signers.keys.push_back(std::move(*key));
  } else {
    KeylessIdentity id;
    id.name = "the identity given";
    id.issuer = *inv.Value("certificate-oidc-issuer");
    id.subject = inv.Value("certificate-identity").value_or("");
    id.subject_regex = inv.Value("certificate-identity-regexp").value_or("");
    if (auto ok = CheckIdentity(id); !ok) return Usage(ok.error().message, command);
    signers.identities.push_back(std::move(id));
  }
  auto artifact = ReadArtifact(inv.args.at(0));
  if (!artifact) return artifact.error();

  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  SignedVerdict verdict = VerifySigned(*material, *artifact, {*root}, signers, now);
  if (!verdict.verified) return Failed("not verified: " + verdict.reason);
  nlohmann::json answer = {
      {"verified", true}, {"artifact", artifact->digest.str()}, {"signer", verdict.signer}};
  if (!verdict.certificate.subject.empty()) {
    answer["subject"] = verdict.certificate.subject;
    answer["issuer"] = verdict.certificate.issuer;
  }
  answer["signing_times"] = verdict.signing_times;
  Show(inv, answer, [&] {
    std::cout << "verified: " << artifact->digest.str() << " signed by " << verdict.signer;
    if (!verdict.certificate.subject.empty()) {
      std::cout << " (" << verdict.certificate.subject << ", issuer " << verdict.certificate.issuer
                << ")";
    }
    std::cout << "\n";
  });
  return {};
}

}  // namespace keep::cli
