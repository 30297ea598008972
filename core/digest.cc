#include "core/digest.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <stdexcept>

namespace keep {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ToHex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 0xf];
  }
  return out;
}

}  // namespace

Result<DigestAlgorithm> ParseDigestAlgorithm(std::string_view name) {
  if (name == "sha256") return DigestAlgorithm::kSha256;
  if (name == "sha512") return DigestAlgorithm::kSha512;
  return Fail(ErrorCode::kDigestInvalid, "digest algorithm must be sha256 or sha512");
}

Result<Digest> Digest::Parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return Fail(ErrorCode::kDigestInvalid,
                "digest must look like sha256:<64 hex characters>");
  }
  std::string_view alg = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  auto a = ParseDigestAlgorithm(alg);
  if (!a) return a.error();
  std::size_t want = *a == DigestAlgorithm::kSha256 ? 64 : 128;
  if (hex.size() != want || !IsLowerHex(hex)) {
    std::string shown(text.substr(0, 140));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') c = '?';
    }
    return Fail(ErrorCode::kDigestInvalid, "\"" + shown + "\" is not a valid digest: " +
                                               std::string(alg) + " needs " + std::to_string(want) +
                                               " lower-case hex characters");
  }
  return Digest(*a, std::string(hex));
}

std::string_view Digest::algorithm_name() const {
  return algorithm_ == DigestAlgorithm::kSha256 ? "sha256" : "sha512";
}

struct Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(DigestAlgorithm algorithm) : algorithm_(algorithm), ctx_(new Ctx) {
  ctx_->md = EVP_MD_CTX_new();
  const EVP_MD* md = algorithm == DigestAlgorithm::kSha256 ? EVP_sha256() : EVP_sha512();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, md, nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest init failed");
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::Update(const void* data, std::size_t size) {
  if (size != 0) EVP_DigestUpdate(ctx_->md, data, size);
}

Digest Hasher::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_->md, out, &n);
  return Digest(algorithm_, ToHex(out, n));
}

Digest Sha256Of(std::string_view data) {
  Hasher h;
  h.Update(data);
  return h.Finish();
}

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return ToHex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

}  // namespace keep
