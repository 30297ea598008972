#include "core/log_text.h"

namespace keep {

std::string LogText(std::string_view untrusted, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string_view shown = untrusted.substr(0, max_bytes);
  std::string out;
  out.reserve(shown.size() + 16);
  for (unsigned char c : shown) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      default:
        if (c >= 0x20 && c <= 0x7e) {
          out += static_cast<char>(c);
        } else {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        }
    }
  }
  if (shown.size() < untrusted.size()) {
    out += "...(" + std::to_string(untrusted.size()) + " bytes)";
  }
  return out;
}

}  // namespace keep
