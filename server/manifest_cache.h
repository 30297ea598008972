// server/manifest_cache.h — manifests' bytes, kept in memory once read and
// checked against their digest.
//
// A manifest GET read a small file and hashed it every time, so as to serve
// only the bytes its digest names. Those bytes never change: once checked
// they are kept here, the least recently served given up first when the
// cache is full. It holds bytes, never decisions: whether a manifest exists
// in a repository and may be served to the caller is asked of the metadata
// on every request, before the cache is. Thread-safe.
#pragma once

#include "core/digest.h"

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace keep::server {

class ManifestCache {
 public:
  // At most `capacity` bytes in all; manifests larger than `max_entry` are
  // never kept.
  ManifestCache(std::size_t capacity, std::size_t max_entry);

  // A copy of the bytes kept for `d`, or nullopt.
  std::optional<std::string> Find(const Digest& d);
  // Keeps `bytes`, which the caller checked against `d`.
  void Keep(const Digest& d, const std::string& bytes);

  std::size_t bytes() const;
  std::size_t entries() const;

 private:
  struct Entry {
    std::string digest;
    std::string bytes;
  };
  mutable std::mutex mu_;
  std::list<Entry> order_;  // most recently served first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::size_t bytes_ = 0;
  const std::size_t capacity_;
  const std::size_t max_entry_;
};

}  // namespace keep::server
