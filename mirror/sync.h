// mirror/sync.h — one sync of a mirror rule: for each upstream repository
// and tag the rule names, fetch the manifest, vet it, fetch what it
// references, store it, sign it with the curator key, and point the local
// tag at it — in that order, so that nothing of an image that failed its
// vetting or its digest checks ever becomes readable, and a tag moves only
// to an image that is stored whole and signed.
//
// Blocking (network and disk): run it off the I/O threads. Rules are synced
// one at a time each (mirror/service.h sees to it).
#pragma once

#include "mirror/keys.h"
#include "mirror/pending.h"
#include "mirror/rule.h"
#include "mirror/upstream.h"
#include "storage/storage.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace keep::mirror {

struct SyncContext {
  BlobDriver& blobs;
  Metadata& metadata;
  BlobLocks& locks;
  const Curator& curator;
  std::size_t max_manifest_bytes = 4 << 20;
  // When set and true, the sync ends before its next tag.
  const std::atomic<bool>* stop = nullptr;
  // Pull-through: where an image that passed vetting is published while its
  // blobs are fetched, and what is told when it is (both may be null).
  PendingImages* pending = nullptr;
  std::function<void()> vetted;
};

// What became of one tag.
struct TagOutcome {
  std::string repository;  // local
  std::string upstream;    // upstream repository
  std::string tag;
  std::string digest;  // the upstream manifest's digest, when it was read
  // "synced" (stored and signed now), "unchanged" (held already), "refused"
  // (failed vetting or a digest check), "held" (trust on first sync: a new
  // digest waits for approval), "failed" (the upstream could not be read).
  std::string state;
  std::string reason;  // why, for every state but synced and unchanged
};

struct SyncReport {
  std::vector<TagOutcome> tags;
  std::uint64_t bytes_fetched = 0;
  std::uint64_t blobs_fetched = 0;
  std::uint64_t blobs_present = 0;  // held already: not fetched again
  int Count(std::string_view state) const;
  nlohmann::json ToJson() const;
};

// Progress events, one JSON object each ("event": "image" | "blob" |
// "progress" | "tag"), for a person watching the sync.
using SyncObserver = std::function<void(const nlohmann::json& event)>;

// One tag of one upstream repository of the rule (what a pull-through does).
TagOutcome SyncTag(const Rule& rule, Upstream& upstream, SyncContext& ctx,
                   const SyncObserver& observe, const std::string& upstream_repo,
                   const std::string& tag, SyncReport& report);

SyncReport SyncRule(const Rule& rule, Upstream& upstream, SyncContext& ctx,
                    const SyncObserver& observe);

}  // namespace keep::mirror
