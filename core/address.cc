#include "core/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace keep {

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    if (::inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    return a;
  }
  a.v4 = false;
  if (::inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), kMapped, sizeof kMapped) == 0) {
    IpAddress v4;
    std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
    return v4;
  }
  return a;
}

bool IpAddress::IsLoopback() const {
  if (v4) return bytes[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[15] == 1;
}

bool AddressRange::Contains(const IpAddress& address) const {
  if (address.v4 != base.v4) return false;
  int whole = prefix / 8, rest = prefix % 8;
  if (std::memcmp(address.bytes.data(), base.bytes.data(), static_cast<std::size_t>(whole)) != 0) {
    return false;
  }
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address.bytes[whole] & mask) == (base.bytes[whole] & mask);
}

Result<AddressRange> ParseAddressRange(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalid, "\"" + std::string(text) + "\" " + std::string(why));
  };
  auto slash = text.find('/');
  auto base = ParseIpAddress(text.substr(0, slash));
  if (!base) return bad("is not an IP address or a CIDR range (10.0.0.0/8, fd00::/8)");
  AddressRange r{*base, base->v4 ? 32 : 128};
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    int n = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || n < 0 || n > r.prefix) {
      return bad("has a prefix length that is not a number from 0 to " + std::to_string(r.prefix));
    }
    r.prefix = n;
  }
  // A range whose address has bits past the prefix is most likely a typo
  // for a narrower one (10.1.2.3/8): refused rather than guessed at.
  const int bits = base->v4 ? 32 : 128;
  for (int i = r.prefix; i < bits; ++i) {
    if ((base->bytes[i / 8] >> (7 - i % 8)) & 1) {
      return bad("has bits set past its prefix length; write the range's first address");
    }
  }
  return r;
}

Result<AddressSet> AddressSet::Parse(const std::vector<std::string>& ranges) {
  AddressSet set;
  for (const auto& text : ranges) {
    auto r = ParseAddressRange(text);
    if (!r) return r.error();
    set.ranges_.push_back(*r);
  }
  return set;
}

bool AddressSet::Contains(const IpAddress& address) const {
  for (const auto& r : ranges_) {
    if (r.Contains(address)) return true;
  }
  return false;
}

bool AddressSet::Contains(std::string_view address) const {
  auto a = ParseIpAddress(address);
  return a && Contains(*a);
}

}  // namespace keep
