// core/digest.h — content digests ("sha256:<64 hex>", "sha512:<128 hex>").
//
// Digest is a validated value: once constructed by Parse() its algorithm is
// known and its hex is lower case and of the right length, so it is safe to
// use as a file name. Hasher computes a digest while bytes stream through it
// (OpenSSL EVP, one pass). A Hasher is not thread-safe; Digest is a value.
#pragma once

#include "core/error.h"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace keep {

enum class DigestAlgorithm { kSha256, kSha512 };

class Digest {
 public:
  // REQUIRES nothing; refuses anything but sha256/sha512 in canonical form.
  [[nodiscard]] static Result<Digest> Parse(std::string_view text);

  DigestAlgorithm algorithm() const { return algorithm_; }
  std::string_view algorithm_name() const;
  const std::string& hex() const { return hex_; }
  std::string str() const { return std::string(algorithm_name()) + ":" + hex_; }

  friend bool operator==(const Digest&, const Digest&) = default;

 private:
  Digest(DigestAlgorithm a, std::string hex) : algorithm_(a), hex_(std::move(hex)) {}
  friend class Hasher;
  DigestAlgorithm algorithm_;
  std::string hex_;
};

class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm = DigestAlgorithm::kSha256);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(const void* data, std::size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Ends the hash; the Hasher may not be updated afterwards.
  Digest Finish();
  DigestAlgorithm algorithm() const { return algorithm_; }

 private:
  struct Ctx;
  DigestAlgorithm algorithm_;
  std::unique_ptr<Ctx> ctx_;
};

// "sha256" or "sha512" (as the digest-algorithm parameter names them); kDigestInvalid else.
[[nodiscard]] Result<DigestAlgorithm> ParseDigestAlgorithm(std::string_view name);

// The sha256 digest of a whole buffer.
Digest Sha256Of(std::string_view data);

// `bytes` bytes from the system's random source as 2 x `bytes` lower-case hex
// digits: a name no one can guess (upload ids, temporary files, references).
std::string RandomHex(std::size_t bytes);

}  // namespace keep
