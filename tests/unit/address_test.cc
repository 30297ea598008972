// Addresses and ranges (core/address.h), and what a request says about its
// origin through a proxy (server/forwarded.h): only a trusted proxy's word
// is taken, and only as far as the chain of proxies can be believed.
#include "core/address.h"
#include "server/forwarded.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

namespace http = boost::beast::http;

TEST(AddressRange, ContainsItsAddressesAndNoOthers) {
  auto r = ParseAddressRange("10.1.0.0/16");
  ASSERT_TRUE(r) << r.error().message;
  AddressSet set = *AddressSet::Parse({"10.1.0.0/16", "fd00::/8", "192.0.2.7"});
  EXPECT_TRUE(set.Contains("10.1.255.3"));
  EXPECT_FALSE(set.Contains("10.2.0.1"));
  EXPECT_TRUE(set.Contains("fd12::1"));
  EXPECT_FALSE(set.Contains("fe80::1"));
  EXPECT_TRUE(set.Contains("192.0.2.7"));
  EXPECT_FALSE(set.Contains("192.0.2.8"));
  // A dual-stack socket's peer is an IPv4-mapped address: it is the IPv4 one.
  EXPECT_TRUE(set.Contains("::ffff:10.1.2.3"));
  EXPECT_FALSE(set.Contains("not an address"));
  EXPECT_FALSE(set.Contains(""));
  // Prefixes that are not whole bytes.
  AddressSet odd = *AddressSet::Parse({"172.16.0.0/12", "2001:db8:8000::/33"});
  EXPECT_TRUE(odd.Contains("172.31.255.255"));
  EXPECT_FALSE(odd.Contains("172.32.0.0"));
  EXPECT_TRUE(odd.Contains("2001:db8:ffff::1"));
  EXPECT_FALSE(odd.Contains("2001:db8:7fff::1"));
  EXPECT_TRUE(AddressSet::Parse({"0.0.0.0/0"})->Contains("203.0.113.1"));
  EXPECT_FALSE(AddressSet::Parse({"0.0.0.0/0"})->Contains("::1"));
}

TEST(AddressRange, RefusesWhatIsNotARangeAndSaysWhy) {
  for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/x", "10.0.0/8",
                          "example.org", "10.0.0.0/8 ", "[::1]", "10.1.2.3/8", "::1/-1"}) {
    auto r = ParseAddressRange(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find(std::string("\"") + bad + "\""), std::string::npos);
    }
  }
  auto typo = ParseAddressRange("10.1.2.3/8");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("past its prefix"), std::string::npos);
}

TEST(IpAddress, KnowsLoopback) {
  EXPECT_TRUE(ParseIpAddress("127.0.0.1")->IsLoopback());
  EXPECT_TRUE(ParseIpAddress("127.3.0.9")->IsLoopback());
  EXPECT_TRUE(ParseIpAddress("::1")->IsLoopback());
  EXPECT_FALSE(ParseIpAddress("0.0.0.0")->IsLoopback());
  EXPECT_FALSE(ParseIpAddress("::")->IsLoopback());
  EXPECT_FALSE(ParseIpAddress("10.0.0.1")->IsLoopback());
}

http::request_header<> Request(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::request_header<> req;
  req.method(http::verb::get);
  req.target("/v2/");
  req.set(http::field::host, "10.0.0.9:5000");
  for (auto [name, value] : fields) req.insert(name, value);
  return req;
}

const AddressSet kProxies = *AddressSet::Parse({"10.0.0.0/24"});

TEST(Forwarded, AnUntrustedPeerIsTheClientWhateverItSays) {
  auto req = Request({{"X-Forwarded-For", "203.0.113.7"},
                      {"X-Forwarded-Proto", "https"},
                      {"X-Forwarded-Host", "registry.example.org"}});
  auto o = server::OriginOf(req, "192.0.2.1", false, kProxies);
  EXPECT_EQ(o.client, "192.0.2.1");
  EXPECT_EQ(o.scheme, "http");
  EXPECT_EQ(o.host, "10.0.0.9:5000");
  // Nor does anyone's word count when no proxy is trusted.
  o = server::OriginOf(req, "10.0.0.2", true, AddressSet{});
  EXPECT_EQ(o.client, "10.0.0.2");
  EXPECT_EQ(o.scheme, "https");
}

TEST(Forwarded, ATrustedProxySaysWhoItsClientWas) {
  auto req = Request({{"X-Forwarded-For", "203.0.113.7"},
                      {"X-Forwarded-Proto", "https"},
                      {"X-Forwarded-Host", "registry.example.org"}});
  auto o = server::OriginOf(req, "10.0.0.2", false, kProxies);
  EXPECT_EQ(o.client, "203.0.113.7");
  EXPECT_EQ(o.scheme, "https");
  EXPECT_EQ(o.host, "registry.example.org");
  // Without the fields, the proxy is the client, as it is.
  o = server::OriginOf(Request({}), "10.0.0.2", false, kProxies);
  EXPECT_EQ(o.client, "10.0.0.2");
  EXPECT_EQ(o.scheme, "http");
  EXPECT_EQ(o.host, "10.0.0.9:5000");
}

TEST(Forwarded, TheChainIsBelievedFromTheRightAsFarAsProxiesAreTrusted) {
  // The client put a made-up address first; the proxies appended the truth.
  auto req =
      Request({{"X-Forwarded-For", "198.51.100.1, 203.0.113.7"}, {"X-Forwarded-For", "10.0.0.3"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).client, "203.0.113.7");
  // Every hop trusted: the first one is the client.
  req = Request({{"X-Forwarded-For", "10.0.0.4,10.0.0.3"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).client, "10.0.0.4");
  // Something that is not an address stops the walk at what was believed.
  req = Request({{"X-Forwarded-For", "203.0.113.7, unknown, 10.0.0.3"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).client, "10.0.0.3");
  req = Request({{"X-Forwarded-For", "<script>"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).client, "10.0.0.2");
  // An IPv6 client.
  req = Request({{"X-Forwarded-For", "2001:db8::7"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).client, "2001:db8::7");
}

TEST(Forwarded, OnlyHttpAndHttpsAreSchemesAndTheNearestProxySpeaksLast) {
  auto req = Request({{"X-Forwarded-Proto", "gopher"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).scheme, "http");
  req = Request({{"X-Forwarded-Proto", "http, HTTPS"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).scheme, "https");
  req = Request({{"X-Forwarded-Host", "a.example"}, {"X-Forwarded-Host", "b.example"}});
  EXPECT_EQ(server::OriginOf(req, "10.0.0.2", false, kProxies).host, "b.example");
}

}  // namespace
}  // namespace keep
