// tests/cli/keepctl_fixture.h — a real keepd, a keepctl logged in to it as
// the admin, and the helpers the keepctl tests share.
#pragma once

#include "tests/cli/run_keepctl.h"
#include "tests/support/keepd_process.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace keep::testkit {

class KeepctlServerTest : public ::testing::Test {
 protected:
  // `config` is merged over the test keepd's (KeepdProcess).
  explicit KeepctlServerTest(nlohmann::json config = nlohmann::json::object())
      : keepd_(std::move(config)) {}

  void SetUp() override { Login(admin_, kAdminUser, kAdminPassword); }

  std::string Url() const { return "https://127.0.0.1:" + std::to_string(keepd_.port()); }

  // Logs `keepctl` in as `user`; expects it to work.
  void Login(const Keepctl& keepctl, const std::string& user, const std::string& password) {
    KeepctlRun run = keepctl.Run(
        {"login", Url(), "--user", user, "--password-stdin", "--ca", keepd_.ca_file()},
        password + "\n");
    ASSERT_EQ(run.exit_code, 0) << run;
  }

  // Runs keepctl as the admin and expects it to succeed quietly.
  std::string Ok(const std::vector<std::string>& args, std::string_view stdin_data = {}) {
    KeepctlRun run = admin_.Run(args, stdin_data);
    EXPECT_EQ(run.exit_code, 0) << run;
    EXPECT_EQ(run.err, "") << run;
    return run.out;
  }

  KeepdProcess keepd_;
  Keepctl admin_;
};

}  // namespace keep::testkit
