// Fuzzes Digest::Parse and Reference::Parse (core/digest.h, core/names.h):
// the digests and references of request paths and manifest bodies.
//
// Invariants: a parsed digest is canonical (its str() is the input, its hex
// has the algorithm's length in lower case) and re-parses to an equal value;
// a reference is a digest exactly when the text has a ':', a tag otherwise,
// and agrees with Digest::Parse / IsValidTag; refusals carry the right code.
#include "core/digest.h"
#include "core/names.h"
#include "fuzz_check.h"

namespace {

using namespace keep;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void CheckDigest(const Digest& d, std::string_view in) {
  std::size_t want = d.algorithm() == DigestAlgorithm::kSha256 ? 64 : 128;
  FUZZ_CHECK(d.hex().size() == want, in);
  FUZZ_CHECK(IsLowerHex(d.hex()), in);
  FUZZ_CHECK(d.algorithm_name() == (want == 64 ? "sha256" : "sha512"), in);
  auto again = Digest::Parse(d.str());
  FUZZ_CHECK(again && *again == d, in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keep::fuzz::AsText(data, size);

  auto d = Digest::Parse(in);
  if (d) {
    CheckDigest(*d, in);
    FUZZ_CHECK(d->str() == in, in);  // only the canonical form is accepted
  } else {
    FUZZ_CHECK(d.error().code == ErrorCode::kDigestInvalid, in);
    FUZZ_CHECK(!d.error().message.empty(), in);
  }

  auto r = Reference::Parse(in);
  bool has_colon = in.find(':') != std::string_view::npos;
  if (r) {
    FUZZ_CHECK(r->str() == in, in);
    FUZZ_CHECK(r->is_digest() == has_colon, in);
    if (r->is_digest()) {
      FUZZ_CHECK(d && r->digest() == *d, in);
      CheckDigest(r->digest(), in);
    } else {
      FUZZ_CHECK(IsValidTag(r->tag()), in);
    }
    auto again = Reference::Parse(r->str());
    FUZZ_CHECK(again && again->str() == r->str() && again->is_digest() == r->is_digest(), in);
  } else if (has_colon) {
    FUZZ_CHECK(!d, in);
    FUZZ_CHECK(r.error().code == ErrorCode::kDigestInvalid, in);
  } else {
    FUZZ_CHECK(!IsValidTag(in), in);
    FUZZ_CHECK(r.error().code == ErrorCode::kManifestInvalid, in);
  }

  // What the registry computes must be what it accepts.
  if (size <= 4096) {
    Digest computed = Sha256Of(in);
    CheckDigest(computed, in);
    FUZZ_CHECK(computed.algorithm() == DigestAlgorithm::kSha256, in);
  }
  return 0;
}
