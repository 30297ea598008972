// tests/fuzz/fuzz_check.h — what the fuzz targets share: FUZZ_CHECK, an
// invariant that aborts (so libFuzzer records the input as a crash) with the
// condition and the input, and AsText, the input as a string_view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace keep::fuzz {

inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input, printable (C-style escapes), cut at 300 characters.
inline std::string Printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < 300; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

[[noreturn]] inline void CheckFailed(const char* cond, const char* file, int line,
                                     std::string_view input) {
  std::fprintf(stderr, "\n%s:%d: invariant violated: %s\n  input: \"%s\"\n", file, line, cond,
               Printable(input).c_str());
  std::abort();
}

}  // namespace keep::fuzz

// FUZZ_CHECK(cond, input): abort with a message when cond is false. Not
// compiled out under NDEBUG, unlike assert().
#define FUZZ_CHECK(cond, input) \
  do {                          \
    if (!(cond)) ::keep::fuzz::CheckFailed(#cond, __FILE__, __LINE__, (input)); \
  } while (0)
