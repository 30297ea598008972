// server/maintenance_status.h — what the one garbage collection or integrity
// check running is doing, or what the last one did, for
// GET /admin/v1/maintenance (keepctl gc and fsck draw their progress from it).
//
// Thread-safe: the run updates it from the blocking pool, requests read it.
#pragma once

#include "storage/maintenance.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace keep::server {

class MaintenanceStatus {
 public:
  // operation: "gc" or "fsck".
  void Start(std::string operation);
  void Update(const MaintenanceProgress& progress);
  void Finish(bool ok);
  // {"running", "operation", "phase", "done", "total", "bytes", "seconds",
  //  "finished_at", "ok"}; {"running": false} before any run.
  nlohmann::json ToJson() const;
  // A ProgressFn that updates this.
  ProgressFn Reporter() {
    return [this](const MaintenanceProgress& p) { Update(p); };
  }

 private:
  mutable std::mutex mu_;
  bool running_ = false;                           // GUARDED_BY(mu_)
  bool ok_ = false;                                // GUARDED_BY(mu_)
  std::string operation_;                          // GUARDED_BY(mu_)
  MaintenanceProgress progress_;                   // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point started_;  // GUARDED_BY(mu_)
  double seconds_ = 0;                             // GUARDED_BY(mu_): of the last run
  std::int64_t finished_at_ = 0;                   // GUARDED_BY(mu_)
};

}  // namespace keep::server
