#include "core/manifest.h"

#include <nlohmann/json.hpp>

#include <cctype>

namespace keep {
namespace {

using nlohmann::json;

Error Invalid(std::string message) { return Fail(ErrorCode::kManifestInvalid, std::move(message)); }

std::string_view StripParams(std::string_view ct) {
  auto semi = ct.find(';');
  if (semi != std::string_view::npos) ct = ct.substr(0, semi);
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  return ct;
}

bool IsForeignLayer(std::string_view mt) {
  return mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" ||
         mt.find("nondistributable") != std::string_view::npos;
}

Result<Descriptor> ParseDescriptor(const json& j, std::string_view where) {
  std::string w(where);
  if (!j.is_object()) return Invalid(w + " must be a descriptor object");
  auto mt = j.find("mediaType");
  if (mt == j.end() || !mt->is_string() || mt->get_ref<const std::string&>().empty()) {
    return Invalid(w + ".mediaType must be a non-empty string");
  }
  auto dg = j.find("digest");
  if (dg == j.end() || !dg->is_string()) return Invalid(w + ".digest must be a string");
  auto digest = Digest::Parse(dg->get_ref<const std::string&>());
  if (!digest) return Fail(ErrorCode::kManifestInvalid, w + ".digest: " + digest.error().message);
  auto sz = j.find("size");
  if (sz == j.end() || !sz->is_number_integer() || sz->get<std::int64_t>() < 0) {
    return Invalid(w + ".size must be a non-negative integer");
  }
  Descriptor d{mt->get<std::string>(), *digest, sz->get<std::int64_t>(), {}, false};
  if (auto at = j.find("artifactType"); at != j.end()) {
    if (!at->is_string()) return Invalid(w + ".artifactType must be a string");
    d.artifact_type = at->get<std::string>();
  }
  if (auto urls = j.find("urls"); urls != j.end() && urls->is_array() && !urls->empty()) {
    d.foreign = IsForeignLayer(d.media_type);
  }
  return d;
}

Result<std::vector<Descriptor>> ParseDescriptorArray(const json& j, const char* key,
                                                     bool required) {
  std::vector<Descriptor> out;
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) return Invalid(std::string("manifest has no \"") + key + "\" array");
    return out;
  }
  if (!it->is_array()) return Invalid(std::string("\"") + key + "\" must be an array");
  out.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto d = ParseDescriptor((*it)[i], std::string(key) + "[" + std::to_string(i) + "]");
    if (!d) return d.error();
    out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace

bool IsManifestMediaType(std::string_view mt) {
  return mt == media::kOciManifest || mt == media::kOciIndex || mt == media::kDockerManifest ||
         mt == media::kDockerManifestList;
}

bool IsIndexMediaType(std::string_view mt) {
  return mt == media::kOciIndex || mt == media::kDockerManifestList;
}

Result<ParsedManifest> ParseManifest(std::string_view body, std::string_view content_type) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("manifest is not valid JSON");
  if (!j.is_object()) return Invalid("manifest must be a JSON object");

  // Media types are case-insensitive (RFC 9110); compare them in lower case.
  std::string declared_lower(StripParams(content_type));
  for (char& c : declared_lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view declared = declared_lower;
  if (declared == media::kDockerSchema1 || declared == media::kDockerSchema1Signed) {
    return Fail(ErrorCode::kManifestInvalid,
                "Docker schema1 manifests are not supported; push with a current client "
                "(schema2 or OCI)");
  }
  auto sv = j.find("schemaVersion");
  if (sv == j.end() || !sv->is_number_integer()) {
    return Invalid("manifest has no integer schemaVersion");
  }
  if (sv->get<std::int64_t>() != 2) {
    return Invalid("schemaVersion must be 2 (schema1 manifests are not supported)");
  }

  ParsedManifest m;
  std::string body_type;
  if (auto it = j.find("mediaType"); it != j.end()) {
    if (!it->is_string()) return Invalid("mediaType must be a string");
    body_type = it->get<std::string>();
  }
  bool declared_known = IsManifestMediaType(declared);
  if (!body_type.empty()) {
    if (!IsManifestMediaType(body_type)) {
      return Invalid("unsupported manifest mediaType \"" + body_type + "\"");
    }
    if (declared_known && declared != body_type) {
      return Invalid("Content-Type \"" + std::string(declared) +
                     "\" does not match the manifest's mediaType \"" + body_type + "\"");
    }
    m.media_type = body_type;
  } else if (declared_known) {
    m.media_type = std::string(declared);
  } else if (j.contains("manifests")) {
    m.media_type = std::string(media::kOciIndex);
  } else {
    m.media_type = std::string(media::kOciManifest);
  }

  if (IsIndexMediaType(m.media_type)) {
    if (j.contains("config") || j.contains("layers")) {
      return Invalid("an index (" + m.media_type + ") must not have config or layers");
    }
    auto children = ParseDescriptorArray(j, "manifests", true);
    if (!children) return children.error();
    m.manifests = std::move(*children);
  } else {
    if (j.contains("manifests")) {
      return Invalid("an image manifest (" + m.media_type + ") must not have a manifests list");
    }
    auto cfg = j.find("config");
    if (cfg == j.end()) return Invalid("image manifest has no config descriptor");
    auto c = ParseDescriptor(*cfg, "config");
    if (!c) return c.error();
    m.config = std::move(*c);
    auto layers = ParseDescriptorArray(j, "layers", true);
    if (!layers) return layers.error();
    m.layers = std::move(*layers);
  }

  if (auto it = j.find("subject"); it != j.end() && !it->is_null()) {
    auto s = ParseDescriptor(*it, "subject");
    if (!s) return s.error();
    m.subject = std::move(*s);
  }
  if (auto it = j.find("artifactType"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return Invalid("artifactType must be a string");
    m.artifact_type = it->get<std::string>();
  }
  if (m.artifact_type.empty() && m.config) m.artifact_type = m.config->media_type;
  if (auto it = j.find("annotations"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Invalid("annotations must be an object");
    for (auto& [k, v] : it->items()) {
      if (!v.is_string()) return Invalid("annotation \"" + k + "\" must be a string");
    }
    m.annotations_json = it->dump();
  } else {
    m.annotations_json = "{}";
  }
  return m;
}

}  // namespace keep
