#include "mirror/service.h"

#include "core/audit.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "mirror/sync.h"
#include "mirror/upstream.h"
#include "storage/secrets.h"
#include "trust/key_material.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace keep::mirror {
namespace {

using nlohmann::json;

constexpr const char* kCuratorKeyName = "mirror-curator";
constexpr std::size_t kEventsPerPage = 500;
constexpr std::size_t kMaxEventsKept = 20000;

Error NoRule(const std::string& name) {
  return Fail(ErrorCode::kNotFound,
              "there is no mirror rule named " + name + " (keepctl mirror list shows them)");
}

std::vector<std::string> StoredKeyMaterial(const PublisherKeyRecord& k) {
  auto ids = KeyMaterialIds(k.algorithm, k.pem);
  return ids ? std::move(*ids) : std::vector<std::string>();
}

// One sync of one rule: its events as they happen, and its report. Its
// thread is joined (Impl::Reap, Service::Stop) before the Job goes.
struct Job {  // NOLINT(bugprone-exception-escape): std::thread's destructor, never reached joinable

  std::uint64_t id = 0;
  std::int64_t started_at = 0;
  std::int64_t finished_at = 0;
  bool done = false;
  std::size_t dropped = 0;  // events dropped from the front (kMaxEventsKept)
  std::vector<json> events;
  json report;
  std::thread thread;
};

}  // namespace

struct Service::Impl {
  ServiceDeps deps;
  Curator curator;
  SecretBox secrets;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Job>> jobs;    // GUARDED_BY(mu): the latest per rule
  std::vector<std::shared_ptr<Job>> finished_threads;  // GUARDED_BY(mu): to join
  std::uint64_t next_job = 1;                          // GUARDED_BY(mu)
  std::atomic<bool> stopping{false};

  // The rules, as last read from the database, for Resolve on the request
  // path: every change here rereads them, and a change through another
  // replica is read within kRulesFresh. And an upstream client per rule, for
  // its syncs and pull-throughs alike.
  static constexpr std::chrono::milliseconds kRulesFresh{5000};
  std::mutex reload_mu;  // held by ReloadRules, from its read to its install
  mutable std::mutex rules_mu;
  std::shared_ptr<const std::vector<Rule>> rules;              // GUARDED_BY(rules_mu)
  std::string rules_fingerprint;                               // GUARDED_BY(rules_mu)
  std::atomic<std::int64_t> rules_checked_ms{0};
  std::map<std::string, std::shared_ptr<Upstream>> upstreams;  // GUARDED_BY(rules_mu)

  // Pull-throughs in flight, by rule, repository and tag: one fetch each.
  // A flight is vetted once its image passed vetting and is pending (its
  // manifests served, its blobs followed while they arrive), done when it
  // is stored, signed and tagged, or failed.
  struct Flight {
    bool vetted = false;
    bool done = false;
    Result<void> result;
  };
  // What pull-throughs vetted and are fetching.
  PendingImages pending;
  // Pull-throughs run here, and finish after the request that started them
  // has its answer.
  boost::asio::thread_pool pull_jobs{4};
  std::mutex flights_mu;
  std::condition_variable flights_cv;
  std::map<std::string, std::shared_ptr<Flight>> flights;  // GUARDED_BY(flights_mu)
  // Pull-throughs that failed lately, by the same key, until when: a client
  // retrying (or many asking) does not make Keep ask the upstream each time.
  // Any change to the rules, or an approval, forgets them.
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, Error>>
      refusals;  // GUARDED_BY(flights_mu)
  // The upstream's tags of a repository a glob rule mirrors, by rule and
  // repository, until when: a pull of a tag the rule allows only by a glob
  // is fetched when the upstream lists it, so that made-up tags cost the
  // upstream one tag list a minute, not a request each.
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point,
                                  std::shared_ptr<const std::set<std::string>>>>
      tag_lists;  // GUARDED_BY(flights_mu)

  void ForgetRefusals() {
    std::lock_guard lock(flights_mu);
    refusals.clear();
    tag_lists.clear();
  }

  // Remembers a refusal; the map never holds more than kMaxRefusals.
  void Remember(const std::string& key, const Error& e, std::chrono::seconds hold) {
    constexpr std::size_t kMaxRefusals = 4096;
    auto now = std::chrono::steady_clock::now();
    if (refusals.size() >= kMaxRefusals) {
      std::erase_if(refusals, [&](const auto& r) { return r.second.first <= now; });
      if (refusals.size() >= kMaxRefusals) refusals.clear();
    }
    refusals[key] = {now + hold, e};
  }

  // Whether the upstream lists `tag` for `repo` (its tag list read at most
  // once a minute).
  Result<bool> UpstreamHasTag(const Rule& rule, Upstream& upstream, const std::string& repo,
                              const std::string& tag) {
    const std::string key = rule.name + "\n" + repo;
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(flights_mu);
      auto it = tag_lists.find(key);
      if (it != tag_lists.end() && now < it->second.first) return it->second.second->contains(tag);
    }
    auto listed = upstream.ListTags(repo);
    if (!listed) return listed.error();
    auto tags = std::make_shared<const std::set<std::string>>(listed->begin(), listed->end());
    std::lock_guard lock(flights_mu);
    if (tag_lists.size() >= 1024) tag_lists.clear();
    tag_lists[key] = {now + std::chrono::seconds(60), tags};
    return tags->contains(tag);
  }

  // With `only_if_changed`, the rules stay as they are (and the upstream
  // clients open) unless the database's differ from those last read.
  Result<void> ReloadRules(bool only_if_changed = false) {
    // One reload at a time, from the read to the install: a refresh that
    // read before a change committed must not install after its reload. A
    // refresh finding another reload under way leaves it to that one.
    std::unique_lock reloading(reload_mu, std::defer_lock);
    if (!only_if_changed) {
      reloading.lock();
    } else if (!reloading.try_lock()) {
      return {};
    }
    auto recs = deps.metadata.ListMirrors();
    if (!recs) return recs.error();
    std::string fingerprint;
    for (const auto& rec : *recs) {
      fingerprint += rec.name + '\n' + std::to_string(rec.updated_at) + '\n' + rec.spec + '\n' +
                     rec.sealed + '\n';
    }
    {
      std::lock_guard lock(rules_mu);
      if (only_if_changed && fingerprint == rules_fingerprint) return {};
      rules_fingerprint = fingerprint;
    }
    auto loaded = std::make_shared<std::vector<Rule>>();
    for (const auto& rec : *recs) {
      auto rule = Decode(rec);
      if (rule) loaded->push_back(std::move(*rule));
    }
    {
      std::lock_guard lock(rules_mu);
      rules = std::move(loaded);
      upstreams.clear();
    }
    ForgetRefusals();
    return {};
  }

  // The rules; read again when another replica may have changed them (one
  // caller at a time looks, at most every kRulesFresh).
  std::shared_ptr<const std::vector<Rule>> Rules() {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::int64_t last = rules_checked_ms.load();
    if (now - last >= kRulesFresh.count() && rules_checked_ms.compare_exchange_strong(last, now)) {
      if (auto r = ReloadRules(true); !r) {
        std::fprintf(stderr, "keepd: reading the mirror rules again failed: %s\n",
                     r.error().message.c_str());
      }
    }
    std::lock_guard lock(rules_mu);
    return rules;
  }

  Result<std::shared_ptr<Upstream>> UpstreamOf(const Rule& rule) {
    std::lock_guard lock(rules_mu);
    auto& slot = upstreams[rule.name];
    if (!slot) {
      UpstreamOptions options;
      options.url = rule.url;
      options.ca_file = rule.ca_file;
      options.username = rule.username;
      options.password = rule.password;
      auto made = Upstream::Open(options);
      if (!made) return made.error();
      slot = std::move(*made);
    }
    return slot;
  }

  Impl(ServiceDeps d, Curator c, SecretBox s)
      : deps(d), curator(std::move(c)), secrets(s) {}

  // The stored rule, credentials opened unless `open_credentials` is false
  // (they are about to be replaced, and may be unreadable: a lost
  // mirror-secrets.key).
  Result<Rule> Load(const std::string& name, bool open_credentials = true) {
    auto rec = deps.metadata.GetMirror(name);
    if (!rec) return rec.error();
    if (!*rec) return NoRule(name);
    return Decode(**rec, open_credentials);
  }

  Result<Rule> Decode(const MirrorRecord& rec, bool open_credentials = true) {
    auto spec = json::parse(rec.spec, nullptr, false);
    if (spec.is_discarded()) {
      return Fail(ErrorCode::kInternal, "mirror rule " + rec.name + " is damaged in the database");
    }
    auto rule = ParseRule(spec);
    if (!rule) return rule.error();
    if (open_credentials && !rec.sealed.empty()) {
      auto opened = secrets.Open(rec.sealed);
      if (!opened) return opened.error();
      rule->password = *opened;
    }
    return rule;
  }

  MirrorRecord Encode(const Rule& rule, const std::string& by) {
    MirrorRecord rec;
    rec.name = rule.name;
    rec.spec = RuleToJson(rule).dump();
    if (!rule.password.empty()) rec.sealed = secrets.Seal(rule.password);
    rec.created_by = by;
    return rec;
  }

  // The namespace must exist; it is made to trust the curator key.
  Result<void> TrustCurator(const Rule& rule, const std::string& by) {
    std::string ns = rule.Namespace();
    auto found = deps.metadata.GetNamespace(ns);
    if (!found) return found.error();
    if (!*found) {
      return Fail(ErrorCode::kInvalid, "mirror rule: namespace " + ns +
                                           " does not exist; create it first (keepctl namespace "
                                           "create " +
                                           ns + ")");
    }
    const PublicKey& key = curator.public_key();
    auto has = deps.metadata.GetKey(ns, key.key_id());
    if (!has) return has.error();
    if (*has) return {};  // trusted already (or revoked on purpose: left so)
    PublisherKeyRecord rec{ns,        key.key_id(), kCuratorKeyName, std::string(key.algorithm()),
                           key.pem(), by,           UnixNow(),       false};
    KEEP_TRY(deps.metadata.AddKey(rec, StoredKeyMaterial));
    // On behalf of the admin who added the rule (its mirror.create event
    // names where from).
    AuditEvent event;
    event.action = "key.add";
    event.actor = AuditActor(by);
    event.ns = ns;
    event.target = key.key_id();
    event.details = {{"event", "key added"}, {"key_id", key.key_id()}, {"name", kCuratorKeyName}};
    Audit(std::move(event));
    return {};
  }

  // What `show` and `list` tell of a rule.
  Result<json> Describe(const Rule& rule, const MirrorRecord& rec, bool with_tags) {
    json j = RuleToJson(rule);
    j["created_at"] = rec.created_at;
    j["created_by"] = rec.created_by;
    j["updated_at"] = rec.updated_at;
    auto key = deps.metadata.GetKey(rule.Namespace(), curator.public_key().key_id());
    if (!key) return key.error();
    j["curator_trusted"] = *key && !(*key)->revoked;
    {
      std::lock_guard lock(mu);
      auto it = jobs.find(rule.name);
      if (it != jobs.end()) {
        const Job& job = *it->second;
        json last = {{"job", job.id}, {"started_at", job.started_at}, {"done", job.done}};
        if (job.done) {
          last["finished_at"] = job.finished_at;
          for (const char* k : {"synced", "unchanged", "refused", "held", "failed"}) {
            last[k] = job.report.value(k, 0);
          }
        }
        j["last_sync"] = last;
      }
    }
    if (with_tags) {
      auto tags = deps.metadata.MirrorTags(rule.name);
      if (!tags) return tags.error();
      json list = json::array();
      for (const auto& t : *tags) {
        json item = {{"repository", t.repository},
                     {"tag", t.tag},
                     {"state", t.state},
                     {"digest", t.digest},
                     {"updated_at", t.updated_at}};
        if (!t.pending.empty()) item["pending"] = t.pending;
        if (!t.reason.empty()) item["reason"] = t.reason;
        list.push_back(std::move(item));
      }
      // Not "tags": that is the rule's own member (its tag patterns).
      j["tag_states"] = std::move(list);
    }
    return j;
  }

  // Joins the threads of jobs that have ended. REQUIRES: mu not held.
  void Reap() {
    std::vector<std::shared_ptr<Job>> done;
    {
      std::lock_guard lock(mu);
      done.swap(finished_threads);
    }
    for (auto& job : done) {
      if (job->thread.joinable()) job->thread.join();
    }
  }

  void RunJob(const std::shared_ptr<Job>& job, const Rule& rule) {
    auto observe = [&](const json& event) {
      std::lock_guard lock(mu);
      if (job->events.size() >= kMaxEventsKept) {
        job->events.erase(job->events.begin(), job->events.begin() + kMaxEventsKept / 2);
        job->dropped += kMaxEventsKept / 2;
      }
      job->events.push_back(event);
    };
    json report;
    metrics::SyncResult result = metrics::SyncResult::kFailed;
    // The rule's one client: syncs and pull-throughs share its connection bound.
    auto upstream = UpstreamOf(rule);
    if (!upstream) {
      report = SyncReport{}.ToJson();
      report["error"] = upstream.error().message;
      observe({{"event", "error"}, {"message", upstream.error().message}});
    } else {
      SyncContext ctx{deps.blobs, deps.metadata, deps.locks, curator, deps.max_manifest_bytes,
                      &stopping,  nullptr,       {}};
      SyncReport done = SyncRule(rule, **upstream, ctx, observe);
      for (const TagOutcome& t : done.tags) metrics::CountMirrorTag(t.state);
      result = done.Count("failed") > 0                         ? metrics::SyncResult::kFailed
               : done.Count("refused") + done.Count("held") > 0 ? metrics::SyncResult::kRefused
                                                                : metrics::SyncResult::kOk;
      report = done.ToJson();
    }
    metrics::CountMirrorSync(result);
    report["rule"] = rule.name;
    std::lock_guard lock(mu);
    job->report = std::move(report);
    job->done = true;
    job->finished_at = UnixNow();
    finished_threads.push_back(job);
  }

  Result<json> Start(const std::string& name) {
    Reap();
    auto rule = Load(name);
    if (!rule) return rule.error();
    std::lock_guard lock(mu);
    if (stopping) return Fail(ErrorCode::kUnavailable, "keepd is stopping");
    auto& slot = jobs[name];
    if (slot && !slot->done) return json{{"job", slot->id}, {"running", true}};
    auto job = std::make_shared<Job>();
    job->id = next_job++;
    job->started_at = UnixNow();
    slot = job;
    job->thread =
        std::thread([this, job, r = std::move(*rule)]() { RunJob(job, r); });
    return json{{"job", job->id}, {"running", true}};
  }
};

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() { Stop(); }

Result<std::unique_ptr<Service>> Service::Open(const std::string& data_dir, ServiceDeps deps) {
  const std::string curator_path = data_dir + "/curator.key";
  auto pem = KeepSecret(deps.metadata, curator_path, "the curator key", Curator::NewPem);
  if (!pem) return pem.error();
  auto curator = Curator::FromPem(*pem, curator_path);
  if (!curator) return curator.error();
  const std::string box_path = data_dir + "/mirror-secrets.key";
  auto box = KeepSecret(deps.metadata, box_path, "the mirror's secret key", SecretBox::NewBytes);
  if (!box) return box.error();
  auto secrets = SecretBox::FromBytes(*box, box_path);
  if (!secrets) return secrets.error();
  auto impl = std::make_unique<Impl>(deps, std::move(*curator), *secrets);
  KEEP_TRY(impl->ReloadRules());
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

const Curator& Service::curator() const { return impl_->curator; }

Result<json> Service::Create(const json& body, const std::string& by) {
  if (body.is_object() && body.contains("password_set")) {
    return Fail(ErrorCode::kInvalid, "mirror rule: \"password_set\" is shown, not set");
  }
  auto rule = ParseRule(body);
  if (!rule) return rule.error();
  KEEP_TRY(impl_->TrustCurator(*rule, by));
  MirrorRecord rec = impl_->Encode(*rule, by);
  KEEP_TRY(impl_->deps.metadata.CreateMirror(rec));
  KEEP_TRY(impl_->ReloadRules());
  return Show(rule->name);
}

Result<json> Service::Update(const std::string& name, const json& patch) {
  if (!patch.is_object()) return Fail(ErrorCode::kInvalid, "the body must be a JSON object");
  if (patch.contains("name") && patch["name"] != name) {
    return Fail(ErrorCode::kInvalid, "a mirror rule's name cannot change; add a new rule");
  }
  if (patch.contains("password_set")) {
    return Fail(ErrorCode::kInvalid, "mirror rule: \"password_set\" is shown, not set");
  }
  // New credentials replace the stored ones, which need not be readable.
  bool replaces = patch.contains("password") || patch.contains("username");
  auto current = impl_->Load(name, !replaces);
  if (!current) return current.error();
  json merged = RuleToJson(*current, true);
  merged.erase("password_set");
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      merged.erase(key);
    } else {
      merged[key] = value;
    }
  }
  // New credentials replace both halves; a username alone keeps no old password.
  if (patch.contains("username") && !patch.contains("password")) merged.erase("password");
  auto rule = ParseRule(merged);
  if (!rule) return rule.error();
  // Stored credentials were given for one upstream: they never follow the
  // rule to another host or trust anchor unless given again.
  const bool moves = rule->url != current->url || rule->upstream_host != current->upstream_host ||
                     rule->ca_file != current->ca_file;
  if (moves && !current->username.empty() && !replaces) {
    return Fail(ErrorCode::kInvalid,
                "mirror rule " + name +
                    " has credentials for its current upstream; changing \"upstream\", "
                    "\"upstream_host\" or \"ca_file\" takes \"username\" and \"password\" "
                    "again (or null for both, to drop them)");
  }
  KEEP_TRY(impl_->TrustCurator(*rule, "mirror"));
  auto found = impl_->deps.metadata.UpdateMirror(impl_->Encode(*rule, ""));
  if (!found) return found.error();
  if (!*found) return NoRule(name);
  KEEP_TRY(impl_->ReloadRules());
  return Show(name);
}

Result<json> Service::Show(const std::string& name) {
  auto rec = impl_->deps.metadata.GetMirror(name);
  if (!rec) return rec.error();
  if (!*rec) return NoRule(name);
  auto rule = impl_->Decode(**rec);
  if (!rule) return rule.error();
  return impl_->Describe(*rule, **rec, true);
}

Result<json> Service::List() {
  auto recs = impl_->deps.metadata.ListMirrors();
  if (!recs) return recs.error();
  json list = json::array();
  for (const auto& rec : *recs) {
    auto rule = impl_->Decode(rec);
    if (!rule) {
      list.push_back({{"name", rec.name}, {"error", rule.error().message}});
      continue;
    }
    auto described = impl_->Describe(*rule, rec, false);
    if (!described) return described.error();
    list.push_back(std::move(*described));
  }
  return json{{"mirrors", list}};
}

Result<void> Service::Remove(const std::string& name) {
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->jobs.find(name);
    if (it != impl_->jobs.end() && !it->second->done) {
      return Fail(ErrorCode::kConflict,
                  "mirror rule " + name + " is syncing; remove it when the sync has ended");
    }
  }
  auto found = impl_->deps.metadata.DeleteMirror(name);
  if (!found) return found.error();
  if (!*found) return NoRule(name);
  return impl_->ReloadRules();
}

Result<json> Service::Approve(const std::string& name, const std::string& repository,
                              const std::string& tag) {
  auto rule = impl_->Load(name);
  if (!rule) return rule.error();
  auto rec = impl_->deps.metadata.GetMirrorTag(name, repository, tag);
  if (!rec) return rec.error();
  if (!*rec || (*rec)->state != "held" || (*rec)->pending.empty()) {
    return Fail(ErrorCode::kConflict, "mirror rule " + name + " holds nothing for " + repository +
                                          ":" + tag + " (keepctl mirror show " + name +
                                          " lists what it holds)");
  }
  MirrorTagRecord approved = **rec;
  approved.state = "approved";
  approved.reason = "approved; the next sync stores " + approved.pending;
  KEEP_TRY(impl_->deps.metadata.PutMirrorTag(approved));
  impl_->ForgetRefusals();
  return json{{"repository", repository}, {"tag", tag}, {"approved", approved.pending}};
}

Result<json> Service::StartSync(const std::string& name) { return impl_->Start(name); }

std::optional<Mapping> Service::Resolve(std::string_view name,
                                        const std::optional<std::string>& ns) const {
  auto rules = impl_->Rules();
  if (!rules) return std::nullopt;
  auto mapping = [&](const Rule& rule, const std::string& upstream, std::string applied) {
    return Mapping{rule.name, upstream, rule.LocalRepository(upstream), std::move(applied),
                   rule.pull_through};
  };
  if (ns && !ns->empty()) {
    std::string host = NormalizeHost(*ns);
    for (const auto& rule : *rules) {
      if (UpstreamHost(rule) != host) continue;
      for (const auto& upstream : rule.repositories) {
        if (upstream == name) return mapping(rule, upstream, host);
      }
    }
  }
  for (const auto& rule : *rules) {
    if (auto upstream = rule.UpstreamRepository(name)) return mapping(rule, *upstream, "");
  }
  for (const auto& rule : *rules) {
    if (!rule.docker_hub) continue;
    for (const auto& upstream : rule.repositories) {
      if (upstream != name) continue;
      Mapping m = mapping(rule, upstream, "");
      m.by_docker_hub_name = true;
      return m;
    }
  }
  return std::nullopt;
}

std::string Service::WhyMissing(const Mapping& mapping) const {
  auto rules = impl_->Rules();
  for (const auto& rule : *rules) {
    if (rule.name != mapping.rule || rule.platforms.empty()) continue;
    std::string list;
    for (const auto& p : rule.platforms) list += (list.empty() ? "" : ", ") + p;
    return "mirror rule " + rule.name + " keeps only the platforms " + list +
           " of what it mirrors; an image for another platform is not held here";
  }
  return {};
}

Result<void> Service::PullThrough(const Mapping& mapping, const std::string& tag) {
  auto rules = impl_->Rules();
  const Rule* rule = nullptr;
  for (const auto& r : *rules) {
    if (r.name == mapping.rule) rule = &r;
  }
  if (!rule) return NoRule(mapping.rule);
  const std::string asked = mapping.upstream_repo + ":" + tag;
  if (!rule->pull_through) {
    return Fail(ErrorCode::kManifestUnknown,
                "manifest " + tag + " of " + mapping.local_repo +
                    " has not been synced, and "
                    "mirror rule " +
                    rule->name + " does not pull through (keepctl mirror sync " + rule->name + ")");
  }
  if (!rule->AllowsTag(tag)) {
    std::string tags;
    for (const auto& t : rule->tags) tags += (tags.empty() ? "" : ", ") + t;
    return Fail(ErrorCode::kDenied, "mirror rule " + rule->name + " does not mirror tag " + tag +
                                        " of " + mapping.upstream_repo + " (it mirrors: " + tags +
                                        ")");
  }
  if (std::find(rule->tags.begin(), rule->tags.end(), tag) == rule->tags.end()) {
    auto upstream = impl_->UpstreamOf(*rule);
    if (!upstream) return upstream.error();
    auto listed = impl_->UpstreamHasTag(*rule, **upstream, mapping.upstream_repo, tag);
    if (!listed) {
      return Fail(ErrorCode::kUnavailable,
                  "mirror rule " + rule->name + " could not list the tags of " +
                      mapping.upstream_repo + " upstream: " + listed.error().message);
    }
    if (!*listed) {
      return Fail(ErrorCode::kManifestUnknown, "manifest " + tag + " of " + mapping.local_repo +
                                                   " is unknown: the upstream has no tag " + tag +
                                                   " in " + mapping.upstream_repo);
    }
  }
  const std::string key = rule->name + "\n" + mapping.upstream_repo + "\n" + tag;
  std::shared_ptr<Impl::Flight> flight;
  bool leader = false;
  {
    std::unique_lock lock(impl_->flights_mu);
    auto refused = impl_->refusals.find(key);
    if (refused != impl_->refusals.end()) {
      if (std::chrono::steady_clock::now() < refused->second.first) return refused->second.second;
      impl_->refusals.erase(refused);
    }
    auto& slot = impl_->flights[key];
    if (!slot) {
      slot = std::make_shared<Impl::Flight>();
      leader = true;
    }
    flight = slot;
    if (!leader) {
      impl_->flights_cv.wait(lock, [&] { return flight->vetted || flight->done; });
      if (flight->done) return flight->result;
      return {};
    }
  }
  // The leader runs the pull-through as a job of its own, and answers (as
  // the others waiting for the same tag do) once the image passed vetting
  // and is pending, or the job ended.
  Impl* impl = impl_.get();
  const Rule job_rule = *rule;
  const Mapping job_mapping = mapping;
  boost::asio::post(impl->pull_jobs, [impl, job_rule, job_mapping, tag, key, flight] {
    Result<void> result;
    auto vetted = [&] {
      std::lock_guard lock(impl->flights_mu);
      flight->vetted = true;
      impl->flights_cv.notify_all();
    };
    const std::string asked = job_mapping.upstream_repo + ":" + tag;
    auto upstream = impl->UpstreamOf(job_rule);
    if (!upstream) {
      result = upstream.error();
    } else {
      SyncContext ctx{impl->deps.blobs,
                      impl->deps.metadata,
                      impl->deps.locks,
                      impl->curator,
                      impl->deps.max_manifest_bytes,
                      &impl->stopping,
                      &impl->pending,
                      vetted};
      SyncReport report;
      auto out = SyncTag(
          job_rule, **upstream, ctx, [](const json&) {}, job_mapping.upstream_repo, tag, report);
      metrics::CountMirrorTag(out.state);
      if (out.state == "failed") {
        result =
            Fail(ErrorCode::kUnavailable, "mirror rule " + job_rule.name + " could not fetch " +
                                              asked + " from its upstream: " + out.reason);
      } else if (out.state != "synced" && out.state != "unchanged") {
        result = Fail(ErrorCode::kDenied, "mirror rule " + job_rule.name + " " + out.state + " " +
                                              asked + ": " + out.reason);
      }
    }
    {
      std::lock_guard lock(impl->flights_mu);
      flight->result = result;
      flight->done = true;
      impl->flights.erase(key);
      if (!result) {
        auto hold = result.error().code == ErrorCode::kUnavailable ? std::chrono::seconds(5)
                                                                   : std::chrono::seconds(30);
        impl->Remember(key, result.error(), hold);
      }
    }
    impl->flights_cv.notify_all();
  });
  std::unique_lock lock(impl_->flights_mu);
  impl_->flights_cv.wait(lock, [&] { return flight->vetted || flight->done; });
  if (flight->done) return flight->result;
  return {};
}

std::optional<PendingManifest> Service::PendingManifestOf(const std::string& repository,
                                                          const std::string& reference) const {
  return impl_->pending.Manifest(repository, reference);
}

std::shared_ptr<GrowingBlob> Service::PendingBlob(const std::string& repository,
                                                  const std::string& digest) const {
  return impl_->pending.Blob(repository, digest);
}

Result<json> Service::SyncStatus(const std::string& name, std::size_t after) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->jobs.find(name);
  if (it == impl_->jobs.end()) {
    return Fail(ErrorCode::kNotFound, "mirror rule " + name +
                                          " has not synced since keepd "
                                          "started (keepctl mirror sync " +
                                          name + " starts one)");
  }
  const Job& job = *it->second;
  json events = json::array();
  std::size_t first = after > job.dropped ? after - job.dropped : 0;
  std::size_t end = std::min(job.events.size(), first + kEventsPerPage);
  for (std::size_t i = first; i < end; ++i) events.push_back(job.events[i]);
  json out = {{"job", job.id},
              {"started_at", job.started_at},
              {"next", job.dropped + end},
              {"events", events},
              {"done", job.done && end == job.events.size()}};
  if (job.done) out["report"] = job.report;
  return out;
}

void Service::StartDueSyncs() {
  auto recs = impl_->deps.metadata.ListMirrors();
  if (!recs) return;
  std::int64_t now = UnixNow();
  for (const auto& rec : *recs) {
    auto rule = impl_->Decode(rec);
    if (!rule || rule->interval_seconds <= 0) continue;
    std::int64_t last = 0;
    {
      std::lock_guard lock(impl_->mu);
      auto it = impl_->jobs.find(rec.name);
      if (it != impl_->jobs.end()) last = it->second->started_at;
    }
    if (last == 0 || now - last >= rule->interval_seconds) (void)impl_->Start(rec.name);
  }
}

void Service::Stop() {
  impl_->stopping = true;
  impl_->pull_jobs.join();
  std::vector<std::shared_ptr<Job>> all;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [name, job] : impl_->jobs) all.push_back(job);
    for (auto& job : impl_->finished_threads) all.push_back(job);
    impl_->finished_threads.clear();
  }
  for (auto& job : all) {
    if (job->thread.joinable()) job->thread.join();
  }
}

}  // namespace keep::mirror
