// tests/support/keepd_test.h — the fixture of the integration tests: a fresh
// keepd per test and a client logged in as its admin.
#pragma once

#include "tests/support/https_client.h"
#include "tests/support/keepd_process.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>

namespace keep::testkit {

class KeepdTest : public ::testing::Test {
 protected:
  KeepdTest() = default;
  // `config` is merged over the generated config file, e.g. {"timeouts": {...}}.
  explicit KeepdTest(nlohmann::json config) : keepd_(std::move(config)) {}

  // The client's connection belongs to the old process: drop it too.
  void RestartKeepd(KeepdProcess::Stop how = KeepdProcess::Stop::kGraceful) {
    keepd_.Restart(how);
    client_.Disconnect();
  }

  // keepd is alive and a new client gets through (after hostile input).
  ::testing::AssertionResult StillServing() {
    if (!keepd_.running()) return ::testing::AssertionFailure() << "keepd exited";
    HttpsClient fresh = keepd_.AdminClient();
    auto r = fresh.TrySend({http::verb::get, "/v2/"});
    if (!r || r->status != 200) {
      return ::testing::AssertionFailure() << "a new client is not served: " << fresh.last_error();
    }
    return ::testing::AssertionSuccess();
  }

  KeepdProcess keepd_;
  HttpsClient client_ = keepd_.AdminClient();
};

}  // namespace keep::testkit
