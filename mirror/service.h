// mirror/service.h — the curated mirror as keepd runs it: rules kept in the
// metadata database (credentials sealed), syncs run as background jobs whose
// progress can be read while they run, scheduled syncs, and the curator key.
// The admin API (server/handlers/admin_mirrors.cc) is a thin layer over it.
//
// A rule lands in a namespace that must exist; adding the rule makes the
// namespace trust the curator key (named "mirror-curator"), so that what the
// mirror vetted and signed is served like anything signed by a trusted
// publisher. A maintainer who revokes that key stops it being served.
//
// Thread-safe. Syncs run on threads of their own, one per rule at a time;
// Stop() waits for them.
#pragma once

#include "mirror/keys.h"
#include "mirror/pending.h"
#include "mirror/rule.h"
#include "storage/storage.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace keep::mirror {

struct ServiceDeps {
  BlobDriver& blobs;
  Metadata& metadata;
  BlobLocks& locks;
  std::size_t max_manifest_bytes = 4 << 20;
};

class Service {
 public:
  // Loads (or makes) the curator key and the credentials key in data_dir.
  [[nodiscard]] static Result<std::unique_ptr<Service>> Open(const std::string& data_dir,
                                                             ServiceDeps deps);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const Curator& curator() const;

  // The admin API's operations; each answer is the JSON it returns.
  // kInvalid for a bad rule, kConflict for a name taken, kNotFound for an
  // unknown rule.
  [[nodiscard]] Result<nlohmann::json> Create(const nlohmann::json& body, const std::string& by);
  // Merges `patch` (members of a rule; null removes an optional one) over
  // the stored rule; "name" cannot change.
  [[nodiscard]] Result<nlohmann::json> Update(const std::string& name, const nlohmann::json& patch);
  [[nodiscard]] Result<nlohmann::json> Show(const std::string& name);
  [[nodiscard]] Result<nlohmann::json> List();
  [[nodiscard]] Result<void> Remove(const std::string& name);
  // Accepts the digest held for `repository:tag` (trust on first sync): the
  // next sync stores it. kConflict when nothing is held.
  [[nodiscard]] Result<nlohmann::json> Approve(const std::string& name,
                                               const std::string& repository,
                                               const std::string& tag);

  // The rule that serves a repository name a client asked for, when one
  // does: with `ns` (the spec's ?ns=<upstream host>, sent by containerd for
  // its mirrors), a rule for that upstream that mirrors the name; without
  // it, a rule whose local repository is the name, or a Docker Hub rule that
  // mirrors the name as Docker Hub calls it (dockerd's registry-mirrors ask
  // for /v2/library/alpine/...; Mapping::by_docker_hub_name, which a local
  // namespace of that name overrides). In memory: never blocks.
  std::optional<Mapping> Resolve(std::string_view name, const std::optional<std::string>& ns) const;

  // Pull-through: fetches, vets, stores and signs `tag` of the mapping's
  // upstream repository now, when its rule allows the tag; answers once the
  // image passed vetting (it is then pending: PendingManifestOf, PendingBlob)
  // or the pull-through ended, which it goes on to do on threads of its own.
  // Concurrent calls for one tag share one fetch. kDenied saying which rule refused and why
  // (a tag the rule does not name, failed vetting, a change held for
  // approval); kUnavailable when the upstream cannot be read. A failure is
  // remembered for 30 s (5 s when the upstream could not be read), or until
  // the rules change or a change is approved, so that clients retrying do
  // not make Keep ask the upstream each time. Blocking.
  [[nodiscard]] Result<void> PullThrough(const Mapping& mapping, const std::string& tag);

  // What a pull-through vetted and is still fetching (mirror/pending.h): a
  // manifest of `repository` by tag or digest, and a blob being fetched.
  std::optional<PendingManifest> PendingManifestOf(const std::string& repository,
                                                   const std::string& reference) const;
  std::shared_ptr<GrowingBlob> PendingBlob(const std::string& repository,
                                           const std::string& digest) const;

  // Why a manifest a mapped repository lacks is not here, when the rule
  // tells: the platforms it keeps. Empty otherwise.
  std::string WhyMissing(const Mapping& mapping) const;

  // Starts a sync of the rule, or finds the one running: {"job": N, ...}.
  [[nodiscard]] Result<nlohmann::json> StartSync(const std::string& name);
  // The rule's latest sync: its events from index `after` on (at most a
  // page), whether it is done, and when done its report.
  [[nodiscard]] Result<nlohmann::json> SyncStatus(const std::string& name, std::size_t after);

  // Starts the syncs whose interval has passed (called every few seconds).
  void StartDueSyncs();
  // Waits for running syncs to end (they are asked to stop between tags).
  void Stop();

 private:
  struct Impl;
  explicit Service(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keep::mirror
