#include "core/audit.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace keep {

void Audit(const nlohmann::json& event) {
  nlohmann::json line = event;
  line["audit"] = true;
  line["time"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() /
                 1000.0;
  std::string s = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(s.data(), 1, s.size(), stderr);
}

}  // namespace keep
