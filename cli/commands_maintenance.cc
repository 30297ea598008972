// keepctl gc, fsck and backup: the registry's garbage collection, integrity
// check and database copy (POST /admin/v1/gc, /fsck, /backup), their reports
// as a summary and a list, and their progress on stderr while they run.
#include "cli/commands.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace keep::cli {
namespace {

using nlohmann::json;

// A list in a report is {"count","items"}: the whole number and the first items.
std::int64_t CountOf(const json& list) {
  if (list.is_array()) return static_cast<std::int64_t>(list.size());
  const json& count = At(list, "count");
  return count.is_number_integer() ? count.get<std::int64_t>() : 0;
}

const json& ItemsOf(const json& list) {
  static const json kEmpty = json::array();
  if (list.is_array()) return list;
  const json& items = At(list, "items");
  return items.is_array() ? items : kEmpty;
}

std::string Bytes(const json& value) {
  return value.is_number() ? HumanBytes(value.get<double>()) : Text(value);
}

std::string Seconds(const json& value) {
  if (!value.is_number()) return Text(value);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", value.get<double>());
  return buf;
}

struct ListField {
  std::string key;    // in the report: "blob_files"
  std::string label;  // in the item table: "blob file"
};

// The items of every list, one row each, and a line for those not listed.
void PrintItems(const json& report, const std::vector<ListField>& lists) {
  json rows = json::array();
  std::int64_t unlisted = 0;
  for (const ListField& f : lists) {
    const json& list = At(report, f.key);
    for (const auto& item : ItemsOf(list)) rows.push_back({{"kind", f.label}, {"item", Text(item)}});
    unlisted += CountOf(list) - static_cast<std::int64_t>(ItemsOf(list).size());
  }
  if (rows.empty()) return;
  std::cout << "\n";
  const Column columns[] = {Field("KIND", "kind"), Field("ITEM", "item")};
  PrintTable(std::cout, rows, columns);
  if (unlisted > 0) std::cout << "(" << unlisted << " more not listed)\n";
}

// Whatever the report holds besides `known`, as "key: value" lines, so a
// field added by a newer server is still shown.
void PrintOthers(const json& report, const std::set<std::string>& known) {
  if (!report.is_object()) return;
  for (const auto& [key, value] : report.items()) {
    if (known.contains(key)) continue;
    std::cout << key << ": "
              << (value.is_object() && value.contains("count") ? std::to_string(CountOf(value))
                                                               : Text(value))
              << "\n";
  }
}

// The server's progress of a gc or fsck, drawn on stderr while the call runs
// (GET /admin/v1/maintenance, polled on a connection of its own): one line
// redrawn in place on a terminal; with KEEPCTL_PROGRESS=always, a line per
// change, for logs. Ends with the state the server gives once it is done.
// Quiet with -o json, off a terminal, and against a server that does not say.
class ProgressWatch {
 public:
  explicit ProgressWatch(const Invocation& inv) {
    const char* forced = std::getenv("KEEPCTL_PROGRESS");
    terminal_ = ::isatty(STDERR_FILENO) == 1;
    bool wanted = terminal_ || (forced != nullptr && std::string_view(forced) == "always");
    if (inv.globals.output == Format::kJson || !wanted) return;
    auto client = ConnectSaved(inv);
    if (!client) return;
    client_.emplace(std::move(*client));
    thread_ = std::thread([this] { Poll(); });
  }
  ProgressWatch(const ProgressWatch&) = delete;
  ProgressWatch& operator=(const ProgressWatch&) = delete;
  ~ProgressWatch() {
    try {
      Stop();
    } catch (...) {  // progress is a courtesy: it never ends keepctl
    }
  }

  // Stops polling and draws the final state.
  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (auto state = client_->Get("/maintenance"); state && At(*state, "running") == false) {
      Draw(*state);
    }
    if (terminal_ && drawn_) std::cerr << "\n";
    std::cerr.flush();
  }

 private:
  void Poll() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      auto state = client_->Get("/maintenance");
      if (!state) return;  // an older server: no progress to show
      if (At(*state, "running") == true) Draw(*state);
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; });
    }
  }

  void Draw(const json& state) {
    auto number = [&](const char* key) {
      const json& v = At(state, key);
      return v.is_number() ? v.get<double>() : 0.0;
    };
    double done = number("done"), total = number("total"), bytes = number("bytes");
    std::string line = Text(At(state, "operation")) + ": " + Text(At(state, "phase")) + " " +
                       std::to_string(static_cast<long long>(done));
    if (total > 0) {
      constexpr int kWidth = 24;
      int filled = std::clamp(static_cast<int>(kWidth * done / total), 0, kWidth);
      line += "/" + std::to_string(static_cast<long long>(total)) + " [" +
              std::string(filled, '#') + std::string(kWidth - filled, ' ') + "]";
    }
    if (bytes > 0) line += " " + HumanBytes(bytes);
    line += " " + Seconds(At(state, "seconds"));
    if (line == last_) return;
    last_ = line;
    if (terminal_) {
      std::cerr << "\r" << line << "\033[K";
    } else {
      std::cerr << line << "\n";
    }
    std::cerr.flush();
    drawn_ = true;
  }

  bool terminal_ = false;
  std::optional<AdminClient> client_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::string last_;   // the poller's, then Stop's once it has joined
  bool drawn_ = false;
};

}  // namespace

Result<void> Gc(const Invocation& inv) {
  json body = {{"dry_run", inv.Flag("dry-run")}};
  if (auto grace = inv.Value("grace")) {
    auto seconds = ParseDuration(*grace, "--grace", "keepctl gc", /*allow_zero=*/true);
    if (!seconds) return seconds.error();
    body["grace_seconds"] = *seconds;
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  ProgressWatch watch(inv);
  auto report = client->Post("/gc", body);
  watch.Stop();
  if (!report) return report.error();
  Show(inv, *report, [&] {
    const json& r = *report;
    const bool dry = At(r, "dry_run") == true;
    std::cout << (dry ? "Would delete (dry run: nothing was deleted):\n" : "Deleted:\n");
    std::cout << "  manifests:        " << CountOf(At(r, "manifests")) << "\n"
              << "  blob links:       " << CountOf(At(r, "blob_links")) << "\n"
              << "  blob files:       " << CountOf(At(r, "blob_files")) << " ("
              << Bytes(At(r, "bytes_freed")) << ")\n"
              << "  expired uploads:  " << Text(At(r, "expired_uploads")) << "\n";
    std::cout << "cutoff: " << IsoTime(At(r, "cutoff")) << "\n"
              << "took: " << Seconds(At(r, "seconds")) << "\n";
    PrintOthers(r, {"dry_run", "manifests", "blob_links", "blob_files", "bytes_freed",
                    "expired_uploads", "cutoff", "seconds"});
    PrintItems(r, {{"manifests", "manifest"},
                   {"blob_links", "blob link"},
                   {"blob_files", "blob file"}});
  });
  return {};
}

Result<void> Fsck(const Invocation& inv) {
  const bool repair = inv.Flag("repair");
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  ProgressWatch watch(inv);
  auto report = client->Post("/fsck", {{"repair", repair}});
  watch.Stop();
  if (!report) return report.error();
  const json& r = *report;
  const std::int64_t corrupt = CountOf(At(r, "corrupt"));
  const std::int64_t missing = CountOf(At(r, "missing_blobs"));
  const std::int64_t broken = CountOf(At(r, "broken_manifests"));
  Show(inv, r, [&] {
    std::cout << "blobs checked:     " << Text(At(r, "blobs_checked")) << " ("
              << Bytes(At(r, "bytes_checked")) << ")\n"
              << "corrupt:           " << corrupt << "\n"
              << "missing blobs:     " << missing << "\n"
              << "broken manifests:  " << broken << "\n"
              << "stray files:       " << CountOf(At(r, "stray_files")) << "\n";
    if (repair) {
      std::cout << "quarantined:       " << CountOf(At(r, "quarantined")) << "\n"
                << "links dropped:     " << CountOf(At(r, "links_dropped")) << "\n";
    }
    std::cout << "took: " << Seconds(At(r, "seconds")) << "\n";
    PrintOthers(r, {"repair", "blobs_checked", "bytes_checked", "corrupt", "missing_blobs",
                    "broken_manifests", "stray_files", "quarantined", "links_dropped",
                    "seconds"});
    PrintItems(r, {{"corrupt", "corrupt"},
                   {"missing_blobs", "missing blob"},
                   {"broken_manifests", "broken manifest"},
                   {"stray_files", "stray file"},
                   {"quarantined", "quarantined"},
                   {"links_dropped", "link dropped"}});
  });
  if (!repair && corrupt + missing + broken > 0) {
    return Failed("the check found " + std::to_string(corrupt + missing + broken) + " problem(s)",
                  "`keepctl fsck --repair` quarantines corrupt blobs and drops links to missing "
                  "ones, so that clients can push them again");
  }
  if (repair && broken > 0) {
    return Failed(std::to_string(broken) + " manifest(s) still miss content",
                  "push those images again");
  }
  return {};
}

Result<void> Backup(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto report = client->Post("/backup", json::object());
  if (!report) return report.error();
  Show(inv, *report, [&] {
    const json& r = *report;
    std::cout << "Copied the metadata database (" << Bytes(At(r, "bytes")) << ", as of "
              << IsoTime(At(r, "taken_at")) << ") to, on the server:\n  " << Text(At(r, "path"))
              << "\nCopy the blob files (<data_dir>/blobs/) after it to back up the content.\n";
    PrintOthers(r, {"path", "bytes", "taken_at"});
  });
  return {};
}

}  // namespace keep::cli
