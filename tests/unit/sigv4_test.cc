// AWS Signature Version 4 (storage/sigv4.h), checked against the worked
// examples of Amazon S3's documentation (its example key and bucket), and
// the canonical forms S3 gateways refuse when they are wrong; and the S3
// client's pure parts (storage/s3_client.h).
#include "storage/sigv4.h"
#include "storage/s3_client.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

constexpr std::string_view kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kDate = "20130524T000000Z";

SigV4Key ExampleKey() {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"};
}

std::string SignatureOf(const std::string& authorization) {
  auto at = authorization.find("Signature=");
  return at == std::string::npos ? "" : authorization.substr(at + 10);
}

TEST(SigV4, GetObjectWithRange) {
  SigV4Request r{"GET",
                 "/test.txt",
                 {},
                 {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"Range", "bytes=0-9"},
                  {"x-amz-content-sha256", std::string(kEmptyHash)},
                  {"x-amz-date", std::string(kDate)}},
                 std::string(kEmptyHash)};
  EXPECT_EQ(SigV4Authorization(r, ExampleKey(), kDate),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, PutObjectWithAReservedCharacterInTheKey) {
  std::string payload_hash = Sha256Hex("Welcome to Amazon S3.");
  EXPECT_EQ(payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SigV4Request r{"PUT",
                 "/test$file.text",
                 {},
                 {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                  {"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-date", std::string(kDate)},
                  {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                  {"x-amz-content-sha256", payload_hash}},
                 payload_hash};
  EXPECT_NE(SigV4CanonicalRequest(r).find("\n/test%24file.text\n"), std::string::npos);
  EXPECT_EQ(SignatureOf(SigV4Authorization(r, ExampleKey(), kDate)),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, AQueryKeyWithoutValueIsSignedWithAnEqualsSign) {
  SigV4Request r{"GET",
                 "/",
                 {{"lifecycle", ""}},
                 {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-date", std::string(kDate)},
                  {"x-amz-content-sha256", std::string(kEmptyHash)}},
                 std::string(kEmptyHash)};
  EXPECT_NE(SigV4CanonicalRequest(r).find("\nlifecycle=\n"), std::string::npos);
  EXPECT_EQ(SignatureOf(SigV4Authorization(r, ExampleKey(), kDate)),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, QueryParametersAreSortedWhateverTheirOrder) {
  SigV4Request r{"GET",
                 "/",
                 {{"prefix", "J"}, {"max-keys", "2"}},
                 {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-date", std::string(kDate)},
                  {"x-amz-content-sha256", std::string(kEmptyHash)}},
                 std::string(kEmptyHash)};
  EXPECT_EQ(SignatureOf(SigV4Authorization(r, ExampleKey(), kDate)),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, PresignedGet) {
  SigV4Request r{"GET", "/test.txt", {}, {{"Host", "examplebucket.s3.amazonaws.com"}}, ""};
  std::string query = SigV4PresignedQuery(r, ExampleKey(), kDate, 86400);
  EXPECT_EQ(query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
            "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
            "X-Amz-SignedHeaders=host&X-Amz-Signature="
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4, EncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(SigV4Encode("blobs/sha256:ab cd+e~f_g.h-i", true),
            "blobs/sha256%3Aab%20cd%2Be~f_g.h-i");
  EXPECT_EQ(SigV4Encode("a/b", false), "a%2Fb");
  EXPECT_EQ(SigV4Encode("\xc3\xa9", false), "%C3%A9");
  EXPECT_EQ(SigV4CanonicalQuery({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(SigV4CanonicalQuery({{"b", "2"}, {"a", "x y"}, {"a", "1"}}), "a=1&a=x%20y&b=2");
}

TEST(SigV4, HeaderNamesAreLowerCasedAndValuesTrimmed) {
  SigV4Request r{
      "GET", "/k", {}, {{"X-Amz-Meta-A", "  one   two  "}, {"HOST", "h"}}, "UNSIGNED-PAYLOAD"};
  std::string canonical = SigV4CanonicalRequest(r);
  EXPECT_NE(canonical.find("host:h\nx-amz-meta-a:one two\n\nhost;x-amz-meta-a\nUNSIGNED-PAYLOAD"),
            std::string::npos)
      << canonical;
}

TEST(SigV4, AmzDateIsUtc) {
  EXPECT_EQ(AmzDate(1369353600), "20130524T000000Z");
  EXPECT_EQ(AmzDate(0), "19700101T000000Z");
}

// What the S3 client reads out of a store's XML answers, and the endpoints
// it refuses before any request.
TEST(S3Xml, ElementsAndTheirTextWithEntitiesDecoded) {
  std::string_view listing =
      "<ListBucketResult><IsTruncated>true</IsTruncated>"
      "<Contents><Key>blobs/sha256/ab</Key><Size>12</Size></Contents>"
      "<Contents><Key>a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos; "
      "&x</Key><Size>0</Size></Contents>"
      "<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>";
  auto contents = XmlElements(listing, "Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(XmlText(contents[0], "Key"), "blobs/sha256/ab");
  EXPECT_EQ(XmlText(contents[0], "Size"), "12");
  EXPECT_EQ(XmlText(contents[1], "Key"), "a&b <c> \"d\" 'e' &x");
  EXPECT_EQ(XmlText(listing, "IsTruncated"), "true");
  EXPECT_EQ(XmlText(listing, "NextContinuationToken"), "tok");
  EXPECT_EQ(XmlText(listing, "Missing"), "");
  EXPECT_TRUE(XmlElements("<Contents>never closed", "Contents").empty());
}

TEST(S3Xml, AFailedAnswerIsDescribedByItsCodeAndMessage) {
  S3Response r;
  r.status = 403;
  r.body = "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>";
  EXPECT_EQ(S3Client::Describe("PUT k", r), "PUT k: 403 SignatureDoesNotMatch: no");
  r.body.clear();
  EXPECT_EQ(S3Client::Describe("HEAD k", r), "HEAD k: 403");
}

TEST(S3Client, EndpointsAreSchemeHostAndPortOnly) {
  auto open = [](std::string endpoint) {
    S3Options o;
    o.endpoint = std::move(endpoint);
    o.bucket = "b";
    return OpenS3Client(o);
  };
  EXPECT_TRUE(open("http://127.0.0.1:7480"));
  EXPECT_TRUE(open("https://s3.example.org/"));
  EXPECT_TRUE(open("http://[::1]:7480"));
  for (const char* bad :
       {"ftp://s3.example.org", "s3.example.org", "http://", "http://h/path", "http://user@h",
        "http://h:0", "http://h:99999", "http://h:x", "http://[::1"}) {
    auto c = open(bad);
    EXPECT_FALSE(c) << bad;
    if (!c) {
      EXPECT_NE(c.error().message.find("storage.s3.endpoint"), std::string::npos) << bad;
    }
  }
  S3Options no_bucket;
  no_bucket.endpoint = "http://127.0.0.1:7480";
  auto c = OpenS3Client(no_bucket);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("storage.s3.bucket"), std::string::npos);
}

TEST(S3Client, APresignedUrlNamesTheObjectAndCarriesItsSignature) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:7480";
  o.bucket = "keep";
  o.prefix = "reg/";
  o.access_key = "AK";
  o.secret_key = "SK";
  auto c = OpenS3Client(o);
  ASSERT_TRUE(c) << c.error().message;
  std::string url = (*c)->PresignedGet("blobs/sha256/ab", 60);
  EXPECT_EQ(
      url.rfind("http://127.0.0.1:7480/keep/reg/blobs/sha256/ab?X-Amz-Algorithm=AWS4-HMAC-SHA256",
                0),
      0u)
      << url;
  EXPECT_NE(url.find("X-Amz-Expires=60&"), std::string::npos) << url;
  EXPECT_NE(url.find("&X-Amz-Signature="), std::string::npos) << url;
  EXPECT_EQ((*c)->CopySource("blobs/sha256/ab"), "/keep/reg/blobs/sha256/ab");
  o.path_style = false;
  auto v = OpenS3Client(o);
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)->PresignedGet("k", 60).rfind("http://keep.127.0.0.1:7480/reg/k?", 0), 0u);
}

}  // namespace
}  // namespace keep
