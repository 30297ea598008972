// cli/prompt.h — where keepctl gets a password from.
//
// Either all of standard input (for `--password-stdin`, as `docker login`
// does: one trailing newline is dropped), or the terminal with echo turned
// off. Call from the main thread only: the terminal's mode is changed while
// it asks.
#pragma once

#include "cli/error.h"

#include <string>
#include <string_view>

namespace keep::cli {

// All of stdin without its trailing "\n" or "\r\n"; fails when that is empty.
// `flag` and `what` name it in the failure ("--passphrase-stdin", "passphrase").
[[nodiscard]] Result<std::string> ReadPasswordFromStdin(std::string_view flag = "--password-stdin",
                                                        std::string_view what = "password");

// Prints `prompt` on /dev/tty and reads a line there without echo. Fails
// (suggesting --password-stdin) when there is no terminal.
[[nodiscard]] Result<std::string> AskPassword(const std::string& prompt);

}  // namespace keep::cli
