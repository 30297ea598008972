// storage/s3_client.h — a small S3 client for the blob driver: requests
// signed with SigV4 (storage/sigv4.h) over kept-alive HTTP or HTTPS
// connections, retried with back-off when the connection fails or the
// store answers 5xx, and downloads streamed into the caller's buffer.
//
// Thread-safe: one S3Client serves every thread (a pool of connections).
// An S3Download is used by one thread at a time.
#pragma once

#include "core/error.h"
#include "storage/sigv4.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace keep {

struct S3Options {
  std::string endpoint;  // "http://127.0.0.1:7480", "https://s3.example.org"
  std::string bucket;
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;
  bool path_style = true;  // false: https://<bucket>.<host>/<key>
  std::string prefix;      // every key starts with it ("" or "keep/")
  std::string ca_file;     // https: the CAs to trust; empty: the system's
  int timeout_seconds = 30;  // connecting, or waiting for the next bytes of an answer
  int attempts = 4;  // a request is tried this many times on 5xx or a broken connection
};

struct S3Response {
  unsigned status = 0;
  std::string body;
  std::string etag;
  std::string last_modified;
  std::optional<std::uint64_t> content_length;
};

// A GET's body, read as it arrives.
class S3Download {
 public:
  virtual ~S3Download() = default;
  // Up to n bytes; 0 at the end of the body.
  [[nodiscard]] virtual Result<std::size_t> Read(void* buf, std::size_t n) = 0;
  // The object's whole size (from Content-Range or Content-Length).
  virtual std::uint64_t object_size() const = 0;
};

class S3Client {
 public:
  virtual ~S3Client() = default;
  // A request whose body is held in memory; key is relative to the prefix
  // ("" for the bucket itself). The answer is returned whatever its status,
  // after retries for 5xx; a connection that cannot be made is kUnavailable.
  [[nodiscard]] virtual Result<S3Response> Call(std::string_view method, std::string_view key,
                                                const SigV4Pairs& query,
                                                const SigV4Pairs& headers = {},
                                                std::string_view body = {}) = 0;
  // The object's bytes from offset to its end. kBlobUnknown when it is absent.
  [[nodiscard]] virtual Result<std::unique_ptr<S3Download>> Get(std::string_view key,
                                                                std::uint64_t offset) = 0;
  // A URL any client may GET the object with for `seconds`.
  [[nodiscard]] virtual std::string PresignedGet(std::string_view key, int seconds) = 0;
  // "bucket/prefix+key", as x-amz-copy-source names an object.
  [[nodiscard]] virtual std::string CopySource(std::string_view key) const = 0;
  // What a failed answer says, for an error message: "PUT key: 403 AccessDenied: ...".
  [[nodiscard]] static std::string Describe(std::string_view what, const S3Response& response);
};

[[nodiscard]] Result<std::unique_ptr<S3Client>> OpenS3Client(const S3Options& options);

// The text of the first <name>...</name> in xml, entities decoded; "" when absent.
[[nodiscard]] std::string XmlText(std::string_view xml, std::string_view name);
// Each <name>...</name> element's inner text, in order.
[[nodiscard]] std::vector<std::string_view> XmlElements(std::string_view xml,
                                                        std::string_view name);

}  // namespace keep
