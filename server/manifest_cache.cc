#include "server/manifest_cache.h"

namespace keep::server {

ManifestCache::ManifestCache(std::size_t capacity, std::size_t max_entry)
    : capacity_(capacity), max_entry_(max_entry) {}

std::optional<std::string> ManifestCache::Find(const Digest& d) {
  std::lock_guard lock(mu_);
  auto it = index_.find(d.str());
  if (it == index_.end()) return std::nullopt;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->bytes;
}

void ManifestCache::Keep(const Digest& d, const std::string& bytes) {
  if (bytes.size() > max_entry_ || bytes.size() > capacity_) return;
  std::lock_guard lock(mu_);
  std::string key = d.str();
  if (index_.contains(key)) return;
  while (!order_.empty() && bytes_ + bytes.size() > capacity_) {
    bytes_ -= order_.back().bytes.size();
    index_.erase(order_.back().digest);
    order_.pop_back();
  }
  order_.push_front(Entry{key, bytes});
  index_.emplace(std::move(key), order_.begin());
  bytes_ += bytes.size();
}

std::size_t ManifestCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t ManifestCache::entries() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

}  // namespace keep::server
