#include "trust/schema.h"

#include "core/base64.h"

#include <set>
#include <vector>

namespace keep::trust_internal {

using nlohmann::json;

Result<json> ParseStrictJson(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> repeated;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && !repeated &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          repeated = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    return Fail(ErrorCode::kInvalid, "not valid JSON");
  }
  if (doc.is_discarded()) return Fail(ErrorCode::kInvalid, "not valid JSON");
  if (repeated) {
    return Fail(ErrorCode::kInvalid,
                "a JSON object repeats a member name \"" + Shown(*repeated) + "\"");
  }
  return doc;
}

std::optional<std::string> ExtraMember(const json& object,
                                       std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) return std::nullopt;
  for (const auto& [name, value] : object.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || name == a;
    if (!known) return name;
  }
  return std::nullopt;
}

std::string Shown(std::string_view text) {
  std::string out(text.substr(0, 80));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') c = '?';
  }
  if (text.size() > 80) out += "...";
  return out;
}

std::string Quoted(std::string_view text, std::size_t limit) {
  std::string out;
  for (char c : text.substr(0, limit)) {
    if (c == '\\' || c == '"') out += '\\';
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  }
  if (text.size() > limit) out += "...";
  return out;
}

const std::string* StringAt(const json& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

const json* ObjectAt(const json& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  if (it == object.end() || !it->is_object()) return nullptr;
  return &*it;
}

namespace {

bool Digits(std::string_view text, std::size_t at, std::size_t count, int min, int max) {
  if (at + count > text.size()) return false;
  int value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  return value >= min && value <= max;
}

}  // namespace

bool IsRfc3339(std::string_view t) {
  // 2006-01-02T15:04:05
  if (t.size() < 20 || t.size() > 35) return false;
  if (!Digits(t, 0, 4, 0, 9999) || t[4] != '-' || !Digits(t, 5, 2, 1, 12) || t[7] != '-' ||
      !Digits(t, 8, 2, 1, 31) || t[10] != 'T' || !Digits(t, 11, 2, 0, 23) || t[13] != ':' ||
      !Digits(t, 14, 2, 0, 59) || t[16] != ':' || !Digits(t, 17, 2, 0, 60)) {
    return false;
  }
  std::size_t at = 19;
  if (t[at] == '.') {
    std::size_t digits = 0;
    while (at + 1 + digits < t.size() && t[at + 1 + digits] >= '0' && t[at + 1 + digits] <= '9') {
      ++digits;
    }
    if (digits == 0 || digits > 9) return false;
    at += 1 + digits;
  }
  std::string_view zone = t.substr(at);
  if (zone == "Z") return true;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && Digits(zone, 1, 2, 0, 23) &&
         zone[3] == ':' && Digits(zone, 4, 2, 0, 59);
}

bool IsLowerHex(std::string_view text, std::size_t size) {
  if (text.size() != size) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string HexToBytes(std::string_view text) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<char>((nibble(text[i]) << 4) | nibble(text[i + 1])));
  }
  return out;
}

bool IsDecimal(std::string_view text) {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text[0] == '0')) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  // 19 digits fit an int64 up to its maximum.
  return text.size() < 19 || text <= std::string_view("9223372036854775807");
}

std::optional<std::string> DecodeBoundedBase64(std::string_view text, std::size_t max_bytes) {
  if (text.empty() || text.size() > (max_bytes + 2) / 3 * 4) return std::nullopt;
  auto bytes = DecodeBase64(text);
  if (!bytes || bytes->empty() || bytes->size() > max_bytes) return std::nullopt;
  return bytes;
}

Result<std::string> Base64Member(const nlohmann::json& parent, const char* name,
                                 std::size_t max_bytes, const std::string& where) {
  const std::string* text = StringAt(parent, name);
  auto bytes = text ? DecodeBoundedBase64(*text, max_bytes) : std::nullopt;
  if (!bytes) {
    return Fail(ErrorCode::kInvalid, where + "." + name + " is not standard base64 of 1 to " +
                                         std::to_string(max_bytes) + " bytes");
  }
  return std::move(*bytes);
}

}  // namespace keep::trust_internal
