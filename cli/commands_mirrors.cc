// keepctl mirror add|list|show|edit|remove|sync|approve|key: the curated
// mirror's rules, their syncs and the curator key (docs/mirror.md).
#include "cli/commands.h"
#include "cli/registry.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <thread>

namespace keep::cli {
namespace {

using nlohmann::json;

// A list of strings as "a, b, c".
std::string Joined(const json& list) {
  if (!list.is_array()) return Text(list);
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : ", ") + Text(item);
  return out.empty() ? "-" : out;
}

const Column kRuleColumns[] = {
    Field("NAME", "name"), Field("UPSTREAM", "upstream"), Field("TARGET", "target"),
    Column{"TAGS", [](const json& r) { return Joined(At(r, "tags")); }},
    Column{"LAST SYNC", [](const json& r) {
             const json& last = At(r, "last_sync");
             if (last.is_null()) return std::string("-");
             if (At(last, "done") != true) return std::string("running");
             return std::to_string(At(last, "synced").get<int>()) + " synced, " +
                    std::to_string(At(last, "refused").get<int>()) + " refused, " +
                    std::to_string(At(last, "held").get<int>()) + " held, " +
                    std::to_string(At(last, "failed").get<int>()) + " failed";
           }}};

const Column kTagColumns[] = {Field("REPOSITORY", "repository"), Field("TAG", "tag"),
                              Field("STATE", "state"), Field("DIGEST", "digest"),
                              Field("REASON", "reason")};

// The rule's members from the flags given (for add: all of them; for edit:
// those given).
Result<json> RuleFromFlags(const Invocation& inv, const AdminClient& client, bool adding) {
  const std::string command = inv.command->FullName();
  json body = json::object();
  if (auto v = inv.Value("upstream")) body["upstream"] = *v;
  if (inv.Has("repo")) body["repositories"] = inv.Values("repo");
  if (inv.Has("tag")) body["tags"] = inv.Values("tag");
  if (auto v = inv.Value("target")) body["target"] = *v;
  if (inv.Has("platform")) body["platforms"] = inv.Values("platform");
  if (auto v = inv.Value("upstream-ca")) body["ca_file"] = *v;
  if (auto v = inv.Value("upstream-host")) body["upstream_host"] = *v;
  if (auto v = inv.Value("reference-host")) {
    body["reference_host"] = *v;
  } else if (adding) {
    body["reference_host"] = RegistryHost(client.server());
  }
  if (auto v = inv.Value("username")) {
    body["username"] = *v;
    if (!inv.Flag("password-stdin")) {
      return Usage("--username needs --password-stdin (the upstream's password or token)", command);
    }
    std::string password;
    std::getline(std::cin, password);
    if (password.empty()) return Usage("no password came on standard input", command);
    body["password"] = password;
  }
  if (auto v = inv.Value("interval")) {
    auto seconds = ParseDuration(*v, "--interval", command, true);
    if (!seconds) return seconds.error();
    body["interval_seconds"] = *seconds;
  }
  if (inv.Has("pull-through")) body["pull_through"] = inv.Flag("pull-through");

  json vetting = json::object();
  if (inv.Has("pin")) {
    json pins = json::object();
    for (const auto& pin : inv.Values("pin")) {
      auto eq = pin.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == pin.size()) {
        return Usage("--pin takes TAG=DIGEST, e.g. --pin 3.20=sha256:<64 hex>, not \"" + pin + "\"",
                     command);
      }
      pins[pin.substr(0, eq)] = pin.substr(eq + 1);
    }
    vetting["digests"] = pins;
  }
  if (inv.Has("signed-by")) {
    json keys = json::array();
    for (const auto& file : inv.Values("signed-by")) {
      auto pem = ReadSmallFile(file, 64 << 10);
      if (!pem) return pem.error();
      keys.push_back(*pem);
    }
    json signature = {{"keys", keys}};
    if (auto t = inv.Value("threshold")) {
      try {
        signature["threshold"] = std::stoll(*t);
      } catch (const std::exception&) {
        return Usage("--threshold takes a number", command);
      }
    }
    vetting["signature"] = signature;
  } else if (inv.Has("threshold")) {
    return Usage("--threshold goes with --signed-by", command);
  }
  if (inv.Has("trust-on-first-sync")) {
    vetting["trust_on_first_sync"] = inv.Flag("trust-on-first-sync");
  }
  if (adding || !vetting.empty()) body["vetting"] = vetting;
  return Result<json>(boost::system::in_place_value, std::move(body));
}

void PrintRule(const json& rule) {
  const Column lines[] = {
      Field("name", "name"),
      Field("upstream", "upstream"),
      Column{"repositories", [](const json& r) { return Joined(At(r, "repositories")); }},
      Column{"tags", [](const json& r) { return Joined(At(r, "tags")); }},
      Field("target", "target"),
      Column{"platforms",
             [](const json& r) {
               return At(r, "platforms").is_null() ? std::string("all")
                                                   : Joined(At(r, "platforms"));
             }},
      Field("reference_host", "reference_host"),
      Column{"credentials",
             [](const json& r) {
               if (At(r, "username").is_null()) return std::string("none (anonymous)");
               return Text(At(r, "username")) +
                      (At(r, "password_set") == true ? " (password set)" : " (no password)");
             }},
      Column{"vetting",
             [](const json& r) {
               const json& v = At(r, "vetting");
               std::string out;
               if (!At(v, "digests").is_null()) {
                 out += "pinned digests (" + std::to_string(At(v, "digests").size()) + ")";
               }
               if (!At(v, "signature").is_null()) {
                 const json& s = At(v, "signature");
                 out += std::string(out.empty() ? "" : ", ") + "signed by " +
                        Text(At(s, "threshold")) + " of " + std::to_string(At(s, "keys").size()) +
                        " key(s)";
                 if (At(s, "identities").is_array()) {
                   out += " and " + std::to_string(At(s, "identities").size()) +
                          " keyless identit" + (At(s, "identities").size() == 1 ? "y" : "ies");
                 }
               }
               if (At(v, "trust_on_first_sync") == true) {
                 out += std::string(out.empty() ? "" : ", ") + "trust on first sync";
               }
               return out.empty() ? std::string("-") : out;
             }},
      Column{"interval",
             [](const json& r) {
               auto s = At(r, "interval_seconds");
               return s.is_number() && s.get<std::int64_t>() > 0
                          ? FormatDuration(s.get<std::int64_t>())
                          : std::string("on demand");
             }},
      Field("pull_through", "pull_through"),
      Column{"curator",
             [](const json& r) {
               return At(r, "curator_trusted") == true
                          ? std::string("trusted by the namespace")
                          : std::string(
                                "NOT trusted by the namespace: what this rule syncs is "
                                "not served");
             }},
  };
  PrintObject(std::cout, rule, lines);
}

// How a sync's events are shown to a person: a line per image and tag, and
// per blob a progress bar on a terminal (a line when done otherwise).
class SyncPrinter {
 public:
  explicit SyncPrinter(bool terminal) : terminal_(terminal) {}

  void Event(const json& e) {
    const std::string kind = Text(At(e, "event"));
    if (kind == "image") {
      EndBar();
      std::cout << Text(At(e, "repository")) << ":" << Text(At(e, "tag")) << "  "
                << Text(At(e, "digest")) << "\n";
    } else if (kind == "blob") {
      EndBar();
      sizes_[Text(At(e, "digest"))] = At(e, "size").get<double>();
      if (!terminal_) {
        std::cout << "  fetching " << Short(Text(At(e, "digest"))) << " ("
                  << HumanBytes(At(e, "size").get<double>()) << ")\n";
      }
    } else if (kind == "resume") {
      EndBar();
      std::cout << "  resuming " << Short(Text(At(e, "digest"))) << " at "
                << HumanBytes(At(e, "offset").get<double>()) << " of "
                << HumanBytes(At(e, "size").get<double>()) << "\n";
    } else if (kind == "progress") {
      double received = At(e, "received").get<double>();
      double size = At(e, "size").get<double>();
      double rate = At(e, "bytes_per_second").get<double>();
      bool complete = received >= size;
      if (terminal_) {
        Bar(Short(Text(At(e, "digest"))), received, size, rate);
        if (complete) EndBar();
      } else if (complete) {
        std::cout << "  fetched " << Short(Text(At(e, "digest"))) << " " << HumanBytes(size)
                  << " at " << HumanBytes(rate) << "/s\n";
      }
    } else if (kind == "tag") {
      EndBar();
      std::string state = Text(At(e, "state"));
      std::cout << Text(At(e, "repository")) << ":" << Text(At(e, "tag")) << "  " << state;
      if (!At(e, "reason").is_null() && !Text(At(e, "reason")).empty()) {
        std::cout << ": " << Text(At(e, "reason"));
      }
      std::cout << "\n";
    } else if (kind == "error") {
      EndBar();
      std::cout << "error: " << Text(At(e, "message")) << "\n";
    }
    std::cout.flush();
  }

  void EndBar() {
    if (bar_open_) std::cout << "\n";
    bar_open_ = false;
  }

 private:
  static std::string Short(const std::string& digest) {
    return digest.substr(0, std::min<std::size_t>(digest.size(), 19));
  }

  void Bar(const std::string& name, double received, double size, double rate) {
    constexpr int kWidth = 30;
    int filled = size > 0 ? static_cast<int>(kWidth * received / size) : kWidth;
    filled = std::clamp(filled, 0, kWidth);
    std::cout << "\r  " << name << " [" << std::string(filled, '#')
              << std::string(kWidth - filled, ' ') << "] " << HumanBytes(received) << " / "
              << HumanBytes(size) << "  " << HumanBytes(rate) << "/s   ";
    bar_open_ = true;
  }

  bool terminal_;
  bool bar_open_ = false;
  std::map<std::string, double> sizes_;
};

}  // namespace

Result<void> MirrorAdd(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto body = RuleFromFlags(inv, *client, true);
  if (!body) return body.error();
  (*body)["name"] = inv.args[0];
  auto rule = client->Post("/mirrors", *body);
  if (!rule) return rule.error();
  Show(inv, *rule, [&] {
    std::cout << "Added mirror rule " << Text(At(*rule, "name")) << "; sync it with `keepctl "
              << "mirror sync " << Text(At(*rule, "name")) << "`\n";
    PrintRule(*rule);
  });
  return {};
}

Result<void> MirrorEdit(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto body = RuleFromFlags(inv, *client, false);
  if (!body) return body.error();
  if (body->empty()) {
    return Usage("give at least one thing to change (see keepctl mirror edit --help)",
                 inv.command->FullName());
  }
  auto rule = client->Patch(PathOf({"mirrors", inv.args[0]}), *body);
  if (!rule) return rule.error();
  Show(inv, *rule, [&] { PrintRule(*rule); });
  return {};
}

Result<void> MirrorList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get("/mirrors");
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { PrintTable(std::cout, At(*answer, "mirrors"), kRuleColumns); });
  return {};
}

Result<void> MirrorShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto rule = client->Get(PathOf({"mirrors", inv.args[0]}));
  if (!rule) return rule.error();
  Show(inv, *rule, [&] {
    PrintRule(*rule);
    const json& tags = At(*rule, "tag_states");
    if (!tags.is_array() || tags.empty()) {
      std::cout << "synced tags: none yet\n";
      return;
    }
    std::cout << "tags:\n";
    PrintTable(std::cout, tags, kTagColumns, "  ");
  });
  return {};
}

Result<void> MirrorRemove(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Delete(PathOf({"mirrors", inv.args[0]}));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] {
    std::cout << "Removed mirror rule " << inv.args[0]
              << " (what it synced stays until deleted or collected)\n";
  });
  return {};
}

Result<void> MirrorSync(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  const std::string& name = inv.args[0];
  auto started = client->Post(PathOf({"mirrors", name, "sync"}), json::object());
  if (!started) return started.error();
  const bool json_mode = inv.globals.output == Format::kJson;
  SyncPrinter printer(::isatty(STDOUT_FILENO) == 1);
  std::uint64_t next = 0;
  json report;
  while (true) {
    auto status = client->Get(PathOf({"mirrors", name, "sync"}) + "?after=" + std::to_string(next));
    if (!status) return status.error();
    if (At(*status, "job") != At(*started, "job")) {
      return Failed("another sync of " + name + " started meanwhile; see keepctl mirror show " +
                    name);
    }
    for (const auto& e : At(*status, "events")) {
      if (!json_mode) printer.Event(e);
    }
    next = At(*status, "next").get<std::uint64_t>();
    if (At(*status, "done") == true) {
      report = At(*status, "report");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  int not_synced = 0;
  for (const char* k : {"refused", "held", "failed"}) not_synced += At(report, k).get<int>();
  Show(inv, report, [&] {
    printer.EndBar();
    std::cout << "Sync of " << name << ": " << At(report, "synced").get<int>() << " synced, "
              << At(report, "unchanged").get<int>() << " unchanged, "
              << At(report, "refused").get<int>() << " refused, " << At(report, "held").get<int>()
              << " held, " << At(report, "failed").get<int>() << " failed; "
              << HumanBytes(At(report, "bytes_fetched").get<double>()) << " fetched in "
              << At(report, "blobs_fetched").get<int>() << " blob(s), "
              << At(report, "blobs_present").get<int>() << " held already\n";
    if (!At(report, "error").is_null()) std::cout << "error: " << Text(At(report, "error")) << "\n";
  });
  if (not_synced > 0 || !At(report, "error").is_null()) {
    return Failed("not every tag was synced (keepctl mirror show " + name + " says why)");
  }
  return {};
}

Result<void> MirrorApprove(const Invocation& inv) {
  const std::string& ref = inv.args[1];
  auto colon = ref.rfind(':');
  if (colon == std::string::npos || colon == 0 || ref.find('/', colon) != std::string::npos) {
    return Usage("give the held tag as REPOSITORY:TAG, e.g. mirror/library/alpine:3.20",
                 inv.command->FullName());
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer =
      client->Post(PathOf({"mirrors", inv.args[0], "approve"}),
                   {{"repository", ref.substr(0, colon)}, {"tag", ref.substr(colon + 1)}});
  if (!answer) return answer.error();
  Show(inv, *answer, [&] {
    std::cout << "Approved " << Text(At(*answer, "approved")) << " for " << ref
              << "; the next sync (keepctl mirror sync " << inv.args[0] << ") stores it\n";
  });
  return {};
}

Result<void> MirrorKey(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto key = client->Get("/mirror-key");
  if (!key) return key.error();
  Show(inv, *key, [&] { std::cout << Text(At(*key, "public_key")); });
  return {};
}

}  // namespace keep::cli
