// tests/support/distribution_process.h — CNCF Distribution (Debian's
// docker-registry) as a real registry for a test: another implementation of
// the OCI Distribution API for Keep to talk to.
//
// The constructor writes a self-signed certificate for 127.0.0.1 and a
// config (filesystem storage in a fresh directory, TLS on a free loopback
// port), starts the binary and returns once the port completes a TLS
// handshake. The destructor stops it and removes the directory, unless the
// test failed: then it keeps the directory and prints the registry's log.
//
// KEEP_TEST_DOCKER_REGISTRY=/path/to/registry runs another binary.
#pragma once

#include "tests/support/https_client.h"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace keep::testkit {

// Writes a self-signed certificate (with `ip` as its subjectAltName) and its
// key, with the openssl command. Throws std::runtime_error on failure.
void MakeSelfSignedCertificate(const std::filesystem::path& cert, const std::filesystem::path& key,
                               const std::string& ip = "127.0.0.1");

// A port free on 127.0.0.1 at this moment.
std::uint16_t FreeLoopbackPort();

class DistributionProcess {
 public:
  DistributionProcess();
  ~DistributionProcess();
  DistributionProcess(const DistributionProcess&) = delete;
  DistributionProcess& operator=(const DistributionProcess&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  // The registry's certificate, to be used as the only CA.
  std::string ca_file() const { return (dir_ / "server.crt").string(); }
  HttpsClient Client() const { return HttpsClient(port_, ca_file()); }
  std::string Log() const;

 private:
  void Stop();

  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Pushes a blob the way every registry accepts: POST to open an upload, then
// PUT the bytes with ?digest= (expects 202, then 201). Returns its digest.
std::string UploadBlob(HttpsClient& client, std::string_view repo, std::string_view bytes);

}  // namespace keep::testkit
