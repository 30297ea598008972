#include "trust/simple_signing.h"

#include "core/names.h"
#include "trust/schema.h"

#include <initializer_list>
#include <vector>

namespace keep {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxPayloadSize = 1024 * 1024;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, "signature payload: " + why); }

// A value from the payload, fit to quote in a message.
std::string Shown(std::string_view s) {
  std::string out(s.substr(0, 200));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') c = '?';
  }
  if (s.size() > 200) out += "...";
  return out;
}

// Refuses members of `object` (at `path`) other than `known`.
Result<void> OnlyMembers(const json& object, std::string_view path,
                         std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : object.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || name == k;
    if (!ok) {
      return Bad(std::string(path) + " has an unexpected member \"" + Shown(name) +
                 "\" (unknown critical data must be refused)");
    }
  }
  return {};
}

// The member `name` of `object` (at `path`), required to be of `type`.
Result<const json*> Member(const json& object, std::string_view path, const char* name,
                           json::value_t type, std::string_view type_name) {
  std::string full = path.empty() ? std::string(name) : std::string(path) + "." + name;
  auto it = object.find(name);
  if (it == object.end()) return Bad("missing " + full);
  if (it->type() != type) return Bad(full + " must be " + std::string(type_name));
  return &*it;
}

// Parses JSON, refusing a member name repeated within one object: two
// readers could otherwise take different values from the same signed bytes.
Result<json> ParseStrictJson(std::string_view text) {
  auto doc = trust_internal::ParseStrictJson(text);
  if (!doc) return Bad(doc.error().message);
  return doc;
}

}  // namespace

Result<SimpleSigning> ParseSimpleSigning(std::string_view payload) {
  if (payload.size() > kMaxPayloadSize) return Bad("larger than 1 MiB");
  auto parsed = ParseStrictJson(payload);
  if (!parsed) return parsed.error();
  const json& doc = *parsed;
  if (!doc.is_object()) return Bad("must be a JSON object");
  KEEP_TRY(OnlyMembers(doc, "the top level", {"critical", "optional"}));

  auto critical = Member(doc, "", "critical", json::value_t::object, "an object");
  if (!critical) return critical.error();
  const json& c = **critical;
  KEEP_TRY(OnlyMembers(c, "critical", {"type", "image", "identity"}));

  auto type = Member(c, "critical", "type", json::value_t::string, "a string");
  if (!type) return type.error();
  auto image = Member(c, "critical", "image", json::value_t::object, "an object");
  if (!image) return image.error();
  KEEP_TRY(OnlyMembers(**image, "critical.image", {"docker-manifest-digest"}));
  auto digest_text = Member(**image, "critical.image", "docker-manifest-digest",
                            json::value_t::string, "a string");
  if (!digest_text) return digest_text.error();
  auto digest = Digest::Parse((*digest_text)->get_ref<const std::string&>());
  if (!digest) return Bad("critical.image.docker-manifest-digest: " + digest.error().message);

  auto identity = Member(c, "critical", "identity", json::value_t::object, "an object");
  if (!identity) return identity.error();
  KEEP_TRY(OnlyMembers(**identity, "critical.identity", {"docker-reference"}));
  auto reference = Member(**identity, "critical.identity", "docker-reference",
                          json::value_t::string, "a string");
  if (!reference) return reference.error();

  json optional;  // null
  if (auto it = doc.find("optional"); it != doc.end()) {
    if (!it->is_object() && !it->is_null()) return Bad("optional must be an object or null");
    optional = *it;
  }
  return SimpleSigning{(*type)->get<std::string>(), *digest, (*reference)->get<std::string>(),
                       std::move(optional)};
}

std::string MakeSimpleSigning(std::string_view docker_reference, const Digest& manifest_digest) {
  json payload = {
      {"critical",
       {{"identity", {{"docker-reference", std::string(docker_reference)}}},
        {"image", {{"docker-manifest-digest", manifest_digest.str()}}},
        {"type", std::string(kCosignSignatureType)}}},
      {"optional", nullptr},
  };
  // Members come out sorted, which is the order cosign writes them in.
  return payload.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool ReferenceNamesRepository(std::string_view reference, std::string_view repository) {
  if (repository.empty()) return false;
  std::string_view name = reference;
  if (auto at = name.find('@'); at != std::string_view::npos) {
    if (!Digest::Parse(name.substr(at + 1))) return false;
    name = name.substr(0, at);
  }
  // A tag follows the last ':' that comes after the last '/'.
  auto last_slash = name.rfind('/');
  auto colon = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash + 1);
  if (colon != std::string_view::npos) {
    if (!IsValidTag(name.substr(colon + 1))) return false;
    name = name.substr(0, colon);
  }
  if (name == repository) return true;
  auto first_slash = name.find('/');
  if (first_slash == std::string_view::npos) return false;
  std::string_view host = name.substr(0, first_slash);
  bool is_host = host.find_first_of(".:") != std::string_view::npos || host == "localhost";
  for (char ch : host) is_host = is_host || (ch >= 'A' && ch <= 'Z');
  return is_host && name.substr(first_slash + 1) == repository;
}

Result<void> CheckPayload(const SimpleSigning& payload, const Digest& target,
                          std::string_view repository) {
  if (payload.type != kCosignSignatureType && payload.type != kAtomicSignatureType) {
    return Fail(ErrorCode::kDenied,
                "signature payload type \"" + Shown(payload.type) +
                    "\" is not a container image signature (expected \"" +
                    std::string(kCosignSignatureType) + "\" or \"" +
                    std::string(kAtomicSignatureType) + "\")");
  }
  if (!(payload.manifest_digest == target)) {
    return Fail(ErrorCode::kDenied, "signature is for manifest " + payload.manifest_digest.str() +
                                        ", not " + target.str());
  }
  if (!ReferenceNamesRepository(payload.docker_reference, repository)) {
    return Fail(ErrorCode::kDenied, "signature is for image \"" +
                                        Shown(payload.docker_reference) +
                                        "\", not for repository " + std::string(repository));
  }
  return {};
}

}  // namespace keep
