// core/address.h — IP addresses and the ranges (CIDR blocks) that name a
// set of them, e.g. the proxies whose forwarded headers keepd believes.
// Values; thread-safe as such.
#pragma once

#include "core/error.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

// An IPv4 or IPv6 address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// taken as the IPv4 address it maps, so that a dual-stack socket's peer
// matches an IPv4 range.
struct IpAddress {
  bool v4 = true;
  std::array<std::uint8_t, 16> bytes{};  // the first 4 for IPv4

  bool IsLoopback() const;  // 127.0.0.0/8 or ::1
};

// nullopt unless `text` is an address and nothing else ("10.0.0.1", "::1";
// no port, no brackets, no zone).
std::optional<IpAddress> ParseIpAddress(std::string_view text);

// An address with a prefix length: "10.0.0.0/8", "fd00::/8"; a bare address
// is the range of that one address.
struct AddressRange {
  IpAddress base;
  int prefix = 32;

  bool Contains(const IpAddress& address) const;
};

// kInvalid naming what is wrong (not an address, a prefix out of
// range, bits set past the prefix).
[[nodiscard]] Result<AddressRange> ParseAddressRange(std::string_view text);

// A list of ranges; an address is in the set when a range contains it.
class AddressSet {
 public:
  [[nodiscard]] static Result<AddressSet> Parse(const std::vector<std::string>& ranges);
  bool Contains(std::string_view address) const;
  bool Contains(const IpAddress& address) const;
  bool empty() const { return ranges_.empty(); }

 private:
  std::vector<AddressRange> ranges_;
};

}  // namespace keep
