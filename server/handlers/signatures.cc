// The signature extension API that skopeo and podman speak when GET /v2/
// answers X-Registry-Supports-Signatures: 1 (GPG simple signing):
// GET/PUT /extensions/v2/<name>/signatures/<digest>. A signature is verified
// as it arrives, against the namespace's OpenPGP keys; one that verifies
// counts towards the manifest's trust like a cosign signature.
#include "server/handlers/handlers.h"
#include "server/handlers/trust_gate.h"

#include "trust/trust.h"

#include "core/base64.h"
#include "core/metrics.h"

#include <nlohmann/json.hpp>

#include <set>

namespace keep::server::handlers {
namespace {

using nlohmann::json;

// "<digest>@<32 lowercase hex>", the name clients give a signature.
bool IsSignatureName(const std::string& name, const std::string& digest) {
  if (name.size() != digest.size() + 33 || name.compare(0, digest.size(), digest) != 0 ||
      name[digest.size()] != '@') {
    return false;
  }
  return name.find_first_not_of("0123456789abcdef", digest.size() + 1) == std::string::npos;
}

// Verifies an OpenPGP signed message against the namespace's OpenPGP keys
// and its payload against the manifest and repository: the signer's
// fingerprint, or kDenied saying what failed.
Result<std::string> VerifyGpg(Metadata& md, const std::string& repo, const Digest& target,
                              std::string_view message) {
  auto keys = md.ListKeys(std::string(NamespaceOf(repo)));
  if (!keys) return keys.error();
  std::vector<OpenPgpKey> trusted;
  for (const auto& k : *keys) {
    if (k.revoked || k.algorithm.rfind("openpgp", 0) != 0) continue;
    if (auto parsed = ParseOpenPgpPublicKey(k.pem)) trusted.push_back(std::move(*parsed));
  }
  if (trusted.empty()) {
    return Fail(ErrorCode::kDenied, "namespace " + std::string(NamespaceOf(repo)) +
                                        " trusts no OpenPGP keys; a maintainer adds one with "
                                        "keepctl key add");
  }
  auto verdict = VerifyOpenPgpSignature(message, trusted);
  if (!verdict) return verdict.error();
  auto payload = ParseSimpleSigning(verdict->payload);
  if (!payload) return Fail(ErrorCode::kDenied, "the signed payload: " + payload.error().message);
  KEEP_TRY(CheckPayload(*payload, target, repo));
  return verdict->fingerprint;
}

}  // namespace

Awaitable<Result<Reply>> GetSignatures(Exchange& ex) {
  const auto& svc = ex.services();
  auto& md = svc.metadata;
  const std::string& repo = ex.params.name;
  auto stored = md.StoredSignatures(repo, ex.params.reference);
  if (!stored) co_return stored.error();
  // A reader gets the signatures of a manifest they may be served, and of
  // those only the ones a key the namespace still trusts verified.
  auto threshold = TrustedViewThreshold(svc, ex.who, repo);
  if (!threshold) co_return threshold.error();
  if (*threshold && !stored->empty()) {
    if (auto ok =
            CheckManifestServable(svc, ex.who, repo, ex.params.reference, ex.params.reference);
        !ok) {
      co_return RefusedPull(ex, repo + "@" + ex.params.reference, ok.error());
    }
    auto records = md.SignaturesOf(repo, ex.params.reference);
    if (!records) co_return records.error();
    auto keys = md.ListKeys(std::string(NamespaceOf(repo)));
    if (!keys) co_return keys.error();
    std::set<std::string> unrevoked;
    for (const auto& k : *keys) {
      if (!k.revoked) unrevoked.insert(k.key_id);
    }
    std::set<std::string> live;  // names of signatures by unrevoked keys
    for (const auto& r : *records) {
      if (r.format == kFormatGpg && unrevoked.count(r.key_id) != 0) live.insert(r.signature);
    }
    std::erase_if(*stored, [&](const StoredSignature& s) { return live.count(s.name) == 0; });
  }
  json list = json::array();
  for (const auto& s : *stored) {
    list.push_back({{"schemaVersion", 2}, {"name", s.name}, {"type", "atomic"}, {"content", s.content}});
  }
  co_return Reply::Json(http::status::ok, json{{"signatures", std::move(list)}}.dump());
}

Awaitable<Result<Reply>> PutSignature(Exchange& ex) {
  const auto& svc = ex.services();
  const std::string& repo = ex.params.name;
  auto target = Digest::Parse(ex.params.reference);
  if (!target) co_return target.error();
  auto body = co_await ex.ReadBody(svc.config.max_body_bytes);
  if (!body) co_return body.error();
  json j = json::parse(*body, nullptr, false);
  if (!j.is_object() || j.value("schemaVersion", 0) != 2 || j.value("type", "") != "atomic" ||
      !j.contains("name") || !j["name"].is_string() || !j.contains("content") ||
      !j["content"].is_string()) {
    co_return Fail(ErrorCode::kInvalid,
                   "a signature is {\"schemaVersion\":2,\"name\":\"<digest>@<id>\","
                   "\"type\":\"atomic\",\"content\":\"<base64>\"}");
  }
  StoredSignature sig{j["name"].get<std::string>(), j["content"].get<std::string>()};
  if (!IsSignatureName(sig.name, target->str())) {
    co_return Fail(ErrorCode::kInvalid, "a signature's name is " + target->str() +
                                            "@ followed by 32 lowercase hex digits");
  }
  auto message = DecodeBase64(sig.content);
  if (!message) co_return Fail(ErrorCode::kInvalid, "the signature's content is not base64");
  auto policy = PolicyOf(svc.metadata, repo);
  if (!policy) co_return policy.error();
  auto signer = co_await Offload(svc, [&] { return VerifyGpg(svc.metadata, repo, *target, *message); });
  metrics::CountSignature(metrics::SignatureFormat::kGpg, static_cast<bool>(signer));
  metrics::CountTrust(signer || policy->mode == "open" ? metrics::Trust::kSignatureAccepted
                                                       : metrics::Trust::kSignatureRefused);
  AuditEvent event = AuditBy(ex, signer ? "signature.accepted" : "signature.refused",
                             std::string(NamespaceOf(repo)), repo + "@" + target->str());
  event.outcome = signer ? "ok" : "refused";
  event.details = {{"event", signer ? "signature accepted" : "signature refused"},
                   {"format", kFormatGpg},
                   {"repository", repo},
                   {"signer", signer ? *signer : std::string()},
                   {"reason", signer ? std::string() : signer.error().message}};
  Audit(std::move(event));
  if (!signer && policy->mode != "open") co_return signer.error();
  std::optional<SignatureRecord> verified;
  if (signer)
    verified = SignatureRecord{repo, target->str(), *signer, kFormatGpg, sig.name, 0, "", true};
  KEEP_CO_TRY(svc.metadata.StoreSignature(repo, target->str(), sig, verified));
  co_return Reply::Empty(http::status::created);
}

}  // namespace keep::server::handlers
