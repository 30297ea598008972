// keepctl audit: who did what, when and from where (GET /admin/v1/audit).
#include "cli/commands.h"

#include "core/clock.h"

#include <iostream>

namespace keep::cli {
namespace {

const Column kAuditColumns[] = {Field("ID", "id"),
                                Field("TIME", "time"),
                                Field("ACTOR", "actor"),
                                {"SOURCE",
                                 [](const nlohmann::json& e) {
                                   std::string s = Text(At(e, "source"));
                                   return s.empty() ? std::string("-") : s;
                                 }},
                                Field("ACTION", "action"),
                                {"NAMESPACE",
                                 [](const nlohmann::json& e) {
                                   std::string s = Text(At(e, "namespace"));
                                   return s.empty() ? std::string("-") : s;
                                 }},
                                {"TARGET",
                                 [](const nlohmann::json& e) {
                                   std::string s = Text(At(e, "target"));
                                   return s.empty() ? std::string("-") : s;
                                 }},
                                {"OUTCOME", [](const nlohmann::json& e) {
                                   std::string s = Text(At(e, "outcome"));
                                   if (At(e, "count").is_number())
                                     s += " (x" + Text(At(e, "count")) + ")";
                                   return s;
                                 }}};

// --since/--until as the server takes them: a time ago in seconds ("5400s"),
// or the RFC 3339 time as given.
Result<std::string> Moment(const Invocation& inv, std::string_view flag) {
  auto text = inv.Value(flag);
  if (!text) return std::string();
  auto ago = ParseDuration(*text, "--" + std::string(flag), "keepctl audit", true);
  if (ago) return std::to_string(*ago) + "s";
  if (ParseMoment(*text, UnixNow())) return *text;
  return Usage("bad --" + std::string(flag) + " \"" + *text +
                   "\": expected a time ago such as 30m, 1h or 2d, or an RFC 3339 time such "
                   "as 2026-12-02T06:00:00Z",
               "keepctl audit");
}

}  // namespace

Result<void> AuditLog(const Invocation& inv) {
  std::string query;
  auto add = [&](std::string_view key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + PathSegment(value);
  };
  if (auto ns = inv.Value("namespace")) add("namespace", *ns);
  for (std::string_view flag : {"since", "until"}) {
    auto moment = Moment(inv, flag);
    if (!moment) return moment.error();
    if (!moment->empty()) add(flag, *moment);
  }
  if (auto user = inv.Value("user")) add("user", *user);
  if (auto action = inv.Value("action")) add("action", *action);
  if (auto limit = inv.Value("limit")) {
    if (limit->empty() || limit->size() > 4 ||
        limit->find_first_not_of("0123456789") != std::string::npos || std::stoi(*limit) < 1 ||
        std::stoi(*limit) > 1000) {
      return Usage("bad --limit \"" + *limit + "\": expected a number from 1 to 1000",
                   "keepctl audit");
    }
    add("limit", *limit);
  }
  if (auto before = inv.Value("before")) {
    if (before->empty() || before->size() > 18 ||
        before->find_first_not_of("0123456789") != std::string::npos) {
      return Usage("bad --before \"" + *before + "\": expected an event id", "keepctl audit");
    }
    add("before", *before);
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get("/audit" + query);
  if (!answer) return answer.error();
  Show(inv, *answer, [&] {
    PrintTable(std::cout, At(*answer, "events"), kAuditColumns);
    if (At(*answer, "next_before").is_number()) {
      std::cout << "(older events: add --before " << Text(At(*answer, "next_before")) << ")\n";
    }
  });
  return {};
}

}  // namespace keep::cli
