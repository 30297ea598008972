// Fuzzes ParseManifest (core/manifest.h): the body and Content-Type of a
// manifest PUT, the richest client input the registry reads.
//
// Input: the Content-Type on the first line (may be empty), the body after
// it; with no newline the whole input is the body, with no Content-Type.
//
// Invariants, for an accepted manifest: its media type is a supported one
// and its shape fits it (an index has children and no config or layers, an
// image manifest a config and no children); every descriptor has a media
// type, a non-negative size and a canonical digest; annotations_json is a
// JSON object of strings. Metamorphic checks: the same body declared with
// the media type it was given (with or without parameters) parses the same;
// an unknown Content-Type is the same as none; and the body re-serialised by
// nlohmann::json parses the same. No exception may escape.
#include "core/manifest.h"
#include "fuzz_check.h"

#include <cctype>

#include <nlohmann/json.hpp>

namespace {

using namespace keep;

std::string_view g_input;  // for FUZZ_CHECK messages from the helpers

#define CHECK(cond) FUZZ_CHECK(cond, g_input)

bool SameDescriptor(const Descriptor& a, const Descriptor& b) {
  return a.media_type == b.media_type && a.digest == b.digest && a.size == b.size &&
         a.artifact_type == b.artifact_type && a.foreign == b.foreign;
}

bool SameDescriptors(const std::vector<Descriptor>& a, const std::vector<Descriptor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!SameDescriptor(a[i], b[i])) return false;
  }
  return true;
}

bool SameOptional(const std::optional<Descriptor>& a, const std::optional<Descriptor>& b) {
  return a.has_value() == b.has_value() && (!a || SameDescriptor(*a, *b));
}

bool Same(const ParsedManifest& a, const ParsedManifest& b) {
  return a.media_type == b.media_type && SameOptional(a.config, b.config) &&
         SameDescriptors(a.layers, b.layers) && SameDescriptors(a.manifests, b.manifests) &&
         SameOptional(a.subject, b.subject) && a.artifact_type == b.artifact_type &&
         a.annotations_json == b.annotations_json;
}

// Both refused with the same code, or both accepted with the same result.
bool SameResult(const Result<ParsedManifest>& a, const Result<ParsedManifest>& b) {
  if (a.has_value() != b.has_value()) return false;
  return a ? Same(*a, *b) : a.error().code == b.error().code;
}

void CheckDescriptor(const Descriptor& d) {
  CHECK(!d.media_type.empty());
  CHECK(d.size >= 0);
  auto again = Digest::Parse(d.digest.str());
  CHECK(again && *again == d.digest);
}

void CheckAccepted(const ParsedManifest& m) {
  CHECK(IsManifestMediaType(m.media_type));
  if (IsIndexMediaType(m.media_type)) {
    CHECK(!m.config);
    CHECK(m.layers.empty());
  } else {
    CHECK(m.config);
    CHECK(m.manifests.empty());
    CHECK(!m.artifact_type.empty());  // artifactType or the config's media type
  }
  if (m.config) CheckDescriptor(*m.config);
  if (m.subject) CheckDescriptor(*m.subject);
  for (const auto& d : m.layers) CheckDescriptor(d);
  for (const auto& d : m.manifests) CheckDescriptor(d);

  auto ann = nlohmann::json::parse(m.annotations_json, nullptr, false);
  CHECK(!ann.is_discarded() && ann.is_object());
  for (auto& [k, v] : ann.items()) CHECK(v.is_string());
}

// Media types compare case-insensitively (RFC 9110), as ParseManifest does.
bool IsKnownOrSchema1(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string t(content_type.substr(0, semi));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return IsManifestMediaType(t) || t == media::kDockerSchema1 || t == media::kDockerSchema1Signed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keep::fuzz::AsText(data, size);
  g_input = in;
  std::string_view content_type, body = in;
  if (auto nl = in.find('\n'); nl != std::string_view::npos) {
    content_type = in.substr(0, nl);
    body = in.substr(nl + 1);
  }

  auto m = ParseManifest(body, content_type);
  if (!m) {
    CHECK(m.error().code == ErrorCode::kManifestInvalid);
    CHECK(!m.error().message.empty());
  } else {
    CheckAccepted(*m);
    // Declaring the type it was given changes nothing.
    CHECK(SameResult(m, ParseManifest(body, m->media_type)));
    CHECK(SameResult(m, ParseManifest(body, m->media_type + "; charset=utf-8")));
  }

  // A Content-Type that is not a manifest type is the same as none.
  if (!content_type.empty() && !IsKnownOrSchema1(content_type)) {
    CHECK(SameResult(m, ParseManifest(body, "")));
  }

  // The same JSON, re-serialised: same answer. (dump() recurses: not for
  // inputs deep enough to matter.)
  if (body.size() <= 64 * 1024) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) CHECK(!m);
    if (!j.is_discarded()) {
      std::string again = j.dump();
      CHECK(SameResult(m, ParseManifest(again, content_type)));
    }
  }
  return 0;
}
