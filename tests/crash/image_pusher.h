// tests/crash/image_pusher.h — pushes random images over a connection that
// may break at any moment (a server being killed), remembers exactly what the
// registry acknowledged, and checks later that it is all still served.
//
// An ImagePusher is used by one thread; give each thread its own.
#pragma once

#include "tests/support/https_client.h"
#include "tests/support/registry.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace keep::testkit {

// The seed of a test's random choices: KEEP_TEST_SEED, or a random one. It
// is printed and recorded as a test property so that a run can be replayed.
std::uint64_t TestSeed();

// Random bytes and choices from one seeded generator.
class Randomness {
 public:
  explicit Randomness(std::uint64_t seed) : gen_(seed) {}
  std::string Bytes(std::size_t n);
  std::size_t Between(std::size_t lo, std::size_t hi);  // both included
  bool OneIn(int n) { return Between(1, static_cast<std::size_t>(n)) == 1; }

 private:
  std::mt19937_64 gen_;
};

// A blob the registry answered 201 for.
struct AckedBlob {
  std::string repo;
  std::string digest;
  std::uint64_t size = 0;
};

// An image whose manifest PUT the registry answered 201 for.
struct AckedImage {
  std::string repo;
  std::string tag;
  Manifest manifest;
  std::vector<AckedBlob> blobs;  // config, then layers
};

// A reply other than the one the protocol promises for the request.
struct Unexpected {
  std::string request;  // "METHOD target"
  int status = 0;
  std::string body;
};

class ImagePusher {
 public:
  // `shared_layers` are pushed by other pushers too (so that commits of the
  // same digest race); an image takes one of them now and then.
  ImagePusher(HttpsClient client, std::uint64_t seed, std::vector<std::string> shared_layers = {});

  // One blob, in a single POST or as a session of 1-3 chunks; true once
  // the registry acknowledged it.
  bool PushBlob(std::string_view repo, const std::string& bytes, bool chunked);
  // A random config and 1-3 layers of 1-200 KiB, each pushed one way or the
  // other at random, then the manifest by tag; the image once its PUT got 201.
  std::optional<AckedImage> PushRandomImage(const std::string& repo, const std::string& tag);

  // While an upload session this pusher opened (POST answered 202) is not
  // finished, it is counted in *open (which may be shared by pushers).
  void CountOpenSessionsIn(std::atomic<int>* open) { open_sessions_ = open; }
  // Drops the connection, e.g. to a server that was killed meanwhile.
  void Disconnect() { client_.Disconnect(); }

  const std::vector<AckedBlob>& acked_blobs() const { return acked_blobs_; }
  const std::vector<Unexpected>& unexpected() const { return unexpected_; }
  int transport_failures() const { return transport_failures_; }
  // "METHOD target: error" of the last exchange that broke.
  const std::string& last_transport_failure() const { return last_transport_failure_; }
  Randomness& random() { return random_; }

 private:
  // The reply when it has `status`; nullopt (remembered as unexpected) when
  // it has another, or when the exchange broke.
  std::optional<Response> Expect(const Request& request, int status);
  bool PushChunked(std::string_view repo, const std::string& bytes, const std::string& digest);

  HttpsClient client_;
  Randomness random_;
  std::vector<std::string> shared_layers_;
  std::vector<AckedBlob> acked_blobs_;
  std::vector<Unexpected> unexpected_;
  int transport_failures_ = 0;
  std::string last_transport_failure_;
  std::atomic<int>* open_sessions_ = nullptr;
};

// What is wrong with a blob as served: empty when GET answers 200 with
// content of its digest and size.
std::string ProblemWithBlob(HttpsClient& client, const AckedBlob& blob);
// What is wrong with an image as served: its manifest by tag and by digest,
// byte for byte, and each of its blobs.
std::vector<std::string> ProblemsWithImage(HttpsClient& client, const AckedImage& image);

// Whether the reply is an error with the spec's body, {"errors":[{"code",
// "message","detail"}]}, whatever its code.
::testing::AssertionResult HasOciErrorBody(const Response& response);

}  // namespace keep::testkit
