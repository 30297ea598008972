// keepctl: the admin CLI of a Keep registry, a client of /admin/v1.
// Parses the command line, runs the command, prints a failure and its hint
// on stderr and exits 0 (done), 1 (failed) or 2 (bad command line).
#include "cli/args.h"
#include "cli/commands.h"
#include "core/version.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

int Report(const keep::cli::Failure& f) {
  std::cerr << "keepctl: " << f.message << "\n";
  // A hint of several lines: each on its own "hint: " line.
  for (std::size_t at = 0; at < f.hint.size();) {
    std::size_t end = std::min(f.hint.find('\n', at), f.hint.size());
    std::cerr << "hint: " << f.hint.substr(at, end - at) << "\n";
    at = end + 1;
  }
  return static_cast<int>(f.exit);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace keep::cli;
  // A server that closes the connection must not kill us with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> words(argv + 1, argv + argc);
  try {
    auto parsed = Parse(CommandTable(), words);
    if (!parsed) return Report(parsed.error());
    if (parsed->version) {
      if (parsed->output == Format::kJson) {
        PrintJson(std::cout, {{"version", keep::VersionText()}, {"commit", keep::CommitText()}});
      } else {
        std::cout << "keepctl " << keep::VersionText() << " (commit " << keep::CommitText()
                  << ")\n";
      }
      return 0;
    }
    if (!parsed->run) {
      std::cout << parsed->help;
      return 0;
    }
    const Invocation& inv = *parsed->run;
    auto done = inv.command->handler(inv);
    std::cout.flush();
    if (!done) return Report(done.error());
    return std::cout ? 0 : Report(Failed("cannot write to standard output"));
  } catch (const std::exception& e) {
    return Report(Failed(std::string("internal error: ") + e.what()));
  }
}
