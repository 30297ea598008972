// cli/args.h — keepctl's command line: the command table's shape, the parser
// and the help texts.
//
// A command line is `keepctl [GLOBAL FLAGS] GROUP [COMMAND] ARGS... [FLAGS]`.
// Global flags (--server, --ca, --output or -o, --help, --version) may stand
// anywhere; a command's own flags come after its name. A flag's value is the
// next word or follows '=' (`--role reader`, `--role=reader`); a boolean flag
// is `--admin` or `--admin=true|false`; `--` ends the flags. The table itself
// is in cli/commands.cc. Thread-safe: pure functions over constant data.
#pragma once

#include "cli/error.h"

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keep::cli {

enum class Format { kTable, kJson };

struct Globals {
  std::optional<std::string> server;  // --server URL
  std::optional<std::string> ca;      // --ca FILE
  Format output = Format::kTable;     // --output json|table, or -o
};

struct FlagSpec {
  enum Kind { kBool, kValue, kList };  // kList: a value flag that may repeat
  std::string_view name;               // without the dashes: "role"
  Kind kind = kBool;
  std::string_view value_name;         // "ROLE" for the help text
  std::string_view help;
  bool required = false;
};

struct Invocation;
using Handler = Result<void> (*)(const Invocation&);

struct CommandSpec {
  std::string_view group;  // "user"; empty for a command without a group ("login")
  std::string_view name;   // "add", "login"
  std::string_view args;   // the positional arguments as shown: "NAME"
  int min_args = 0;
  int max_args = 0;
  std::vector<FlagSpec> flags;
  std::string_view summary;  // one line
  std::string_view details;  // more lines for `--help`; may be empty
  Handler handler = nullptr;

  std::string FullName() const;  // "keepctl user add"
};

// What the command line asked for, once it parsed.
struct Invocation {
  const CommandSpec* command = nullptr;
  Globals globals;
  std::vector<std::string> args;
  std::map<std::string, std::vector<std::string>, std::less<>> flags;  // bool: "true"/"false"

  bool Has(std::string_view flag) const { return flags.find(flag) != flags.end(); }
  // The (last) value of a flag, or nullopt when it was not given.
  std::optional<std::string> Value(std::string_view flag) const;
  std::vector<std::string> Values(std::string_view flag) const;
  bool Flag(std::string_view flag) const { return Value(flag) == "true"; }
};

// A command to run, a help text to print, or --version (then exit 0).
struct Parsed {
  std::optional<Invocation> run;
  std::string help;
  bool version = false;
  Format output = Format::kTable;  // for --version: -o json asks for JSON
};

[[nodiscard]] Result<Parsed> Parse(std::span<const CommandSpec> table,
                                   std::span<const std::string> words);

// The flags every command takes (--server, --ca, --output, --help, --version).
struct GlobalFlag {
  std::string_view name;        // "output"
  std::string_view short_name;  // "o", or empty
  std::string_view value_name;  // "FMT"; empty for a flag without a value
  std::string_view help;        // may run over several lines
};
std::span<const GlobalFlag> GlobalFlags();

// "user add NAME [--admin] [--password-stdin]": a command's words, arguments
// and every flag.
std::string SynopsisOf(const CommandSpec& command);
// What keepctl is for, and the notes that close `keepctl --help` (login,
// credentials, image names, exit status): for the manual page too.
std::string_view HelpIntro();
std::string_view HelpNotes();

// The help texts: the whole tool, one group, one command.
std::string TopHelp(std::span<const CommandSpec> table);
std::string GroupHelp(std::span<const CommandSpec> table, std::string_view group);
std::string CommandHelp(const CommandSpec& command);

}  // namespace keep::cli
