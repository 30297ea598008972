// trust/openpgp_rnp.h — internal to trust/: owning librnp's objects and the
// small questions trust/openpgp.cc and trust/openpgp_material.cc ask of it.
//
// Not part of the module's interface (trust/trust.h does not include it).
// Every ffi made here is fresh and empty: librnp reads keys only from what
// the caller imports into it. Stateless; thread-safe as long as one ffi and
// the handles from it stay on one thread.
#pragma once

#include "core/error.h"

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace keep {
namespace trust_internal {

// Owners of librnp objects; each frees with the matching rnp_*_destroy.
template <class T, rnp_result_t (*Destroy)(T)>
struct RnpDeleter {
  void operator()(T p) const noexcept { Destroy(p); }
};
template <class T, rnp_result_t (*Destroy)(T)>
using RnpPtr = std::unique_ptr<std::remove_pointer_t<T>, RnpDeleter<T, Destroy>>;

using FfiPtr = RnpPtr<rnp_ffi_t, rnp_ffi_destroy>;
using InputPtr = RnpPtr<rnp_input_t, rnp_input_destroy>;
using OutputPtr = RnpPtr<rnp_output_t, rnp_output_destroy>;
using KeyPtr = RnpPtr<rnp_key_handle_t, rnp_key_handle_destroy>;
using VerifyPtr = RnpPtr<rnp_op_verify_t, rnp_op_verify_destroy>;
using IteratorPtr = RnpPtr<rnp_identifier_iterator_t, rnp_identifier_iterator_destroy>;

// A string librnp allocated (rnp_buffer_destroy frees it).
struct RnpString {
  char* p = nullptr;
  RnpString() = default;
  RnpString(const RnpString&) = delete;
  RnpString& operator=(const RnpString&) = delete;
  ~RnpString() { rnp_buffer_destroy(p); }
  char** out() { return &p; }
  std::string str() const { return p != nullptr ? std::string(p) : std::string(); }
};

// librnp's words for `r`, and its code in hex: "Bad format (0x10000001)".
std::string RnpError(rnp_result_t r);

std::string Upper(std::string s);

// A fresh, empty ffi.
[[nodiscard]] Result<FfiPtr> NewFfi();

// Reads `bytes` in place: they must outlive the input.
InputPtr MemoryInput(std::string_view bytes);

// Imports public keys only, strictly (a bad packet fails the whole import).
rnp_result_t ImportPublic(rnp_ffi_t ffi, std::string_view armored);

// Every key (primary or subkey) in `ffi`, by fingerprint.
std::vector<KeyPtr> AllKeys(rnp_ffi_t ffi);

bool IsPrimary(rnp_key_handle_t key);

// The key's own fingerprint, upper-case hex; empty when librnp gives none.
std::string Fingerprint(rnp_key_handle_t key);

// "ed25519", "rsa3072", "ecdsa-p256", "dsa2048", ...: short and familiar.
std::string AlgorithmName(rnp_key_handle_t key);

}  // namespace trust_internal
}  // namespace keep
