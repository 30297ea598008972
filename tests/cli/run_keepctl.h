// tests/cli/run_keepctl.h — runs the real keepctl binary the way a person would.
//
// Each Keepctl has a private temporary HOME and XDG_CONFIG_HOME, so the
// credentials it saves are its own; the directory is removed with it. A run
// gets the given stdin, has no controlling terminal (so keepctl can never
// sit waiting at a password prompt) and is killed after a deadline.
// KEEP_TEST_KEEPCTL=/path/to/keepctl runs another binary. Not thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace keep::testkit {

struct KeepctlRun {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// For gtest messages: "exit 1\nstdout:...\nstderr:...".
std::ostream& operator<<(std::ostream& os, const KeepctlRun& run);

class Keepctl {
 public:
  Keepctl();
  ~Keepctl();
  Keepctl(const Keepctl&) = delete;
  Keepctl& operator=(const Keepctl&) = delete;

  KeepctlRun Run(const std::vector<std::string>& args, std::string_view stdin_data = {}) const;
  // Runs another program (keepd --version, say) the same way.
  KeepctlRun RunProgram(const std::string& program, const std::vector<std::string>& args,
                        std::string_view stdin_data = {}) const;

  // Environment variables of the next runs (HOME and XDG_CONFIG_HOME are set already).
  void SetEnv(const std::string& name, const std::string& value) { env_[name] = value; }
  void UnsetEnv(const std::string& name) { env_.erase(name); }
  // The working directory of the next runs; by default, the test's own.
  void SetWorkingDirectory(std::filesystem::path dir) { cwd_ = std::move(dir); }

  std::filesystem::path dir() const { return dir_; }
  // Where keepctl keeps the credentials by default: $XDG_CONFIG_HOME/keep/keepctl.json.
  std::filesystem::path credentials_file() const { return dir_ / "xdg" / "keep" / "keepctl.json"; }

 private:
  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
  std::filesystem::path cwd_;
};

// The value of the line "key: value" in keepctl's table output, or "" when absent.
std::string ValueOf(const std::string& out, std::string_view key);

}  // namespace keep::testkit
