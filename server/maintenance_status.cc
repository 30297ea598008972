#include "server/maintenance_status.h"

#include "core/clock.h"

namespace keep::server {

void MaintenanceStatus::Start(std::string operation) {
  std::lock_guard lock(mu_);
  running_ = true;
  ok_ = false;
  operation_ = std::move(operation);
  progress_ = MaintenanceProgress{"starting"};
  started_ = std::chrono::steady_clock::now();
  seconds_ = 0;
  finished_at_ = 0;
}

void MaintenanceStatus::Update(const MaintenanceProgress& progress) {
  std::lock_guard lock(mu_);
  progress_ = progress;
}

void MaintenanceStatus::Finish(bool ok) {
  std::lock_guard lock(mu_);
  running_ = false;
  ok_ = ok;
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  finished_at_ = UnixNow();
}

nlohmann::json MaintenanceStatus::ToJson() const {
  std::lock_guard lock(mu_);
  if (operation_.empty()) return {{"running", false}};
  double seconds =
      running_ ? std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count()
               : seconds_;
  nlohmann::json j = {{"running", running_},      {"operation", operation_},
                      {"phase", progress_.phase}, {"done", progress_.done},
                      {"total", progress_.total}, {"bytes", progress_.bytes},
                      {"seconds", seconds}};
  if (!running_) {
    j["finished_at"] = finished_at_;
    j["ok"] = ok_;
  }
  return j;
}

}  // namespace keep::server
