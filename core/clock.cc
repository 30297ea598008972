#include "core/clock.h"

#include <charconv>

namespace keep {
namespace {

Error BadMoment(std::string_view text) {
  return Fail(ErrorCode::kInvalid,
              "\"" + std::string(text.substr(0, 64)) +
                  "\" is not a time: give a time ago (90s, 30m, 1h, 2d) or an RFC 3339 time "
                  "(2026-12-02T06:00:00Z)");
}

// Reads exactly `digits` decimal digits at `at`.
bool Digits(std::string_view t, std::size_t at, std::size_t digits, int& out) {
  if (at + digits > t.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + digits; ++i) {
    if (t[i] < '0' || t[i] > '9') return false;
    out = out * 10 + (t[i] - '0');
  }
  return true;
}

}  // namespace

Result<std::int64_t> ParseMoment(std::string_view text, std::int64_t now) {
  if (text.empty()) return BadMoment(text);
  // A time ago: digits and one unit.
  if (text.size() <= 12 && text.find_first_not_of("0123456789") == text.size() - 1) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
    if (ec != std::errc() || end != text.data() + text.size() - 1 || text.size() < 2) {
      return BadMoment(text);
    }
    std::int64_t unit = 0;
    switch (text.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return BadMoment(text);
    }
    if (n > 100LL * 366 * 86400 / unit) return BadMoment(text);  // past a century: a typo
    return now - n * unit;
  }
  // RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  int year, month, day, hour, minute, second;
  if (!Digits(text, 0, 4, year) || text.size() < 20 || text[4] != '-' ||
      !Digits(text, 5, 2, month) || text[7] != '-' || !Digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !Digits(text, 11, 2, hour) ||
      text[13] != ':' || !Digits(text, 14, 2, minute) || text[16] != ':' ||
      !Digits(text, 17, 2, second)) {
    return BadMoment(text);
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return BadMoment(text);
  }
  std::size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    std::size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == start) return BadMoment(text);
  }
  std::int64_t offset = 0;
  std::string_view zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh, om;
    if (!Digits(zone, 1, 2, oh) || !Digits(zone, 4, 2, om) || oh > 23 || om > 59) {
      return BadMoment(text);
    }
    offset = (oh * 3600 + om * 60) * (zone[0] == '+' ? 1 : -1);
  } else {
    return BadMoment(text);
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::time_t t = timegm(&tm);
  if (tm.tm_mday != day) return BadMoment(text);  // 2026-02-30 rolled over
  return static_cast<std::int64_t>(t) - offset;
}

}  // namespace keep
