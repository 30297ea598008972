#include "mirror/sync.h"

#include "core/audit.h"
#include "core/clock.h"
#include "core/manifest.h"
#include "core/names.h"
#include "mirror/vetting.h"
#include "trust/cosign.h"
#include "trust/sigstore_bundle.h"
#include "trust/simple_signing.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <set>

namespace keep::mirror {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Refusals and failures carry their reason up to the tag's outcome.
struct Verdict {
  std::string state;  // "refused", "held", "failed"
  std::string reason;
};

// The first error of a step: a digest check that failed refuses the image,
// anything else (the upstream unreachable, a full disk) fails the tag.
Verdict FromError(const Error& e, const std::string& what) {
  if (e.code == ErrorCode::kDigestInvalid || e.code == ErrorCode::kSizeInvalid ||
      e.code == ErrorCode::kManifestInvalid || e.code == ErrorCode::kTooLarge) {
    return {"refused", what + ": " + ClientText(e)};
  }
  return {"failed", what + ": " + ClientText(e)};
}

class TagSync {
 public:
  TagSync(const Rule& rule, Upstream& upstream, SyncContext& ctx, SyncReport& report,
          const SyncObserver& observe, std::string upstream_repo, std::string tag)
      : rule_(rule), upstream_(upstream), ctx_(ctx), report_(report), observe_(observe),
        upstream_repo_(std::move(upstream_repo)), local_(rule.LocalRepository(upstream_repo_)),
        tag_(std::move(tag)) {}

  TagOutcome Run() {
    TagOutcome out{local_, upstream_repo_, tag_, "", "", ""};
    auto manifest = upstream_.GetManifest(upstream_repo_, tag_, ctx_.max_manifest_bytes);
    if (!manifest) return Finish(out, FromError(manifest.error(), "reading the manifest"));
    out.digest = manifest->digest.str();
    auto parsed = ParseManifest(manifest->bytes, manifest->media_type);
    if (!parsed) {
      return Finish(out, {"refused", "the upstream manifest is not one Keep stores: " +
                                         parsed.error().message});
    }
    auto previous = ctx_.metadata.GetMirrorTag(rule_.name, local_, tag_);
    if (!previous) return Finish(out, FromError(previous.error(), "reading the tag's record"));
    if (auto refusal = Vet(manifest->digest, *previous)) return Finish(out, *refusal);

    if (auto held = AlreadyHeld(manifest->digest); held && *held) {
      out.state = "unchanged";
      return Record(out);
    }
    observe_({{"event", "image"},
              {"repository", local_},
              {"tag", tag_},
              {"digest", out.digest},
              {"media_type", parsed->media_type}});
    Plan plan;
    if (auto failed = MakePlan(*manifest, *parsed, plan)) return Finish(out, *failed);
    // A pull-through serves what passed vetting while its blobs arrive.
    PendingGuard pending(ctx_.pending);
    if (ctx_.pending) pending.handle = ctx_.pending->Add(Pending(plan));
    if (ctx_.vetted) ctx_.vetted();
    if (auto failed = StoreImage(plan)) return Finish(out, *failed);
    if (auto failed = SignAndTag(*manifest, *parsed)) return Finish(out, *failed);
    out.state = "synced";
    return Record(out);
  }

 private:
  // The rule's vetting of the upstream manifest `digest`; nullopt when it passes.
  std::optional<Verdict> Vet(const Digest& digest, const std::optional<MirrorTagRecord>& previous) {
    const Vetting& v = rule_.vetting;
    if (!v.digests.empty()) {
      auto pin = v.digests.find(tag_);
      if (pin == v.digests.end()) {
        return Verdict{"refused", "the rule pins no digest for tag " + tag_ +
                                      " (vetting.digests); upstream has " + digest.str()};
      }
      if (pin->second != digest.str()) {
        return Verdict{"refused", "upstream tag " + tag_ + " is " + digest.str() +
                                      ", but the rule pins " + pin->second};
      }
    }
    if (v.signature) {
      if (auto refusal = VetSignatures(digest, *v.signature)) return refusal;
    }
    if (v.trust_on_first_sync && previous && !previous->digest.empty() &&
        previous->digest != digest.str()) {
      bool approved = previous->state == "approved" && previous->pending == digest.str();
      if (!approved) {
        return Verdict{"held", "upstream tag " + tag_ + " changed from " + previous->digest +
                                   " to " + digest.str() +
                                   "; approve it with `keepctl mirror "
                                   "approve " +
                                   rule_.name + " " + local_ + ":" + tag_ + "`"};
      }
    }
    return std::nullopt;
  }

  // The upstream's cosign signatures of `digest` (tag sha256-<hex>.sig) by
  // the rule's keys: at least `threshold` distinct keys must have signed.
  std::optional<Verdict> VetSignatures(const Digest& digest, const SignatureVetting& sv) {
    std::optional<KeylessTrust> keyless;
    if (!sv.identities.empty()) {
      auto roots = InstalledTrustRoots(ctx_.metadata);
      if (!roots) return FromError(roots.error(), "reading the installed trust roots");
      keyless = KeylessTrust{std::move(*roots), sv.identities, UnixNow()};
    }
    auto found = FindUpstreamSignatures(upstream_, upstream_repo_, digest, sv.keys,
                                        keyless ? &*keyless : nullptr);
    if (!found) {
      if (found.error().code == ErrorCode::kDigestInvalid) {
        return Verdict{"refused", found.error().message};
      }
      return FromError(found.error(), "reading the upstream's signatures of " + digest.str());
    }
    if (static_cast<std::int64_t>(found->signers.size()) >= sv.threshold) {
      kept_ = std::move(found->kept);
      return std::nullopt;
    }
    if (!found->found_any) {
      return Verdict{"refused", "unsigned: upstream has no signature of " + digest.str() +
                                    " (looked for: " + found->where + ")"};
    }
    std::string why = std::to_string(found->signers.size()) + " of the rule's keys signed " +
                      digest.str() + ", " + std::to_string(sv.threshold) + " needed";
    if (!found->reasons.empty()) why += " (" + found->reasons + ")";
    return Verdict{"refused", why};
  }

  // Whether the local tag already points at `digest`, signed by the curator.
  Result<bool> AlreadyHeld(const Digest& digest) {
    auto tagged = ctx_.metadata.GetTagged(local_, tag_);
    if (!tagged) return tagged.error();
    if (!*tagged || (*tagged)->digest != digest.str()) return false;
    auto sigs = ctx_.metadata.SignaturesOf(local_, digest.str());
    if (!sigs) return sigs.error();
    const std::string& curator = ctx_.curator.public_key().key_id();
    return std::any_of(sigs->begin(), sigs->end(),
                       [&](const SignatureRecord& s) { return s.key_id == curator; });
  }

  // What an image is made of, read before anything of it is stored: its
  // manifests (the kept children of an index first, then the image's own)
  // and every blob they reference, once each.
  struct Plan {
    std::vector<std::pair<UpstreamManifest, ParsedManifest>> manifests;
    std::vector<Descriptor> blobs;
    std::map<std::string, std::shared_ptr<GrowingBlob>> growing;  // pull-through: by digest
  };

  std::optional<Verdict> MakePlan(const UpstreamManifest& manifest, const ParsedManifest& parsed,
                                  Plan& plan) {
    auto kept = KeptChildren(manifest, parsed);
    if (!parsed.manifests.empty() && kept.empty()) {
      return Verdict{"refused", "the index holds none of the platforms the rule keeps"};
    }
    for (const auto& child : kept) {
      auto bytes =
          upstream_.GetManifest(upstream_repo_, child.digest.str(), ctx_.max_manifest_bytes);
      if (!bytes) return FromError(bytes.error(), "reading child manifest " + child.digest.str());
      auto child_parsed = ParseManifest(bytes->bytes, bytes->media_type);
      if (!child_parsed) {
        return Verdict{"refused", "child manifest " + child.digest.str() + ": " +
                                      child_parsed.error().message};
      }
      if (!child_parsed->manifests.empty()) {
        return Verdict{"refused", "child manifest " + child.digest.str() +
                                      " is itself an index; Keep mirrors one level of index"};
      }
      if (auto failed = MakePlan(*bytes, *child_parsed, plan)) return failed;
    }
    std::vector<Descriptor> blobs;
    if (parsed.config) blobs.push_back(*parsed.config);
    for (const auto& layer : parsed.layers) {
      if (!layer.foreign) blobs.push_back(layer);
    }
    for (const auto& blob : blobs) {
      bool listed = std::any_of(plan.blobs.begin(), plan.blobs.end(),
                                [&](const Descriptor& d) { return d.digest == blob.digest; });
      if (!listed) plan.blobs.push_back(blob);
    }
    plan.manifests.emplace_back(manifest, parsed);
    return std::nullopt;
  }

  // A pull-through's pending entries: the manifests, the tagged one first,
  // and a GrowingBlob for each blob this repository does not hold yet.
  PendingImages::Image Pending(Plan& plan) {
    PendingImages::Image image{local_, tag_, {}, {}};
    for (auto it = plan.manifests.rbegin(); it != plan.manifests.rend(); ++it) {
      image.manifests.push_back(
          PendingManifest{it->second.media_type, it->first.bytes, it->first.digest});
    }
    for (const auto& blob : plan.blobs) {
      auto linked = ctx_.metadata.LinkedBlobSize(local_, blob.digest.str());
      if (blob.size < 0 || !linked || *linked) continue;
      auto g = std::make_shared<GrowingBlob>(static_cast<std::uint64_t>(blob.size),
                                             FetchSession(rule_.name, blob.digest));
      plan.growing[blob.digest.str()] = g;
      image.blobs[blob.digest.str()] = g;
    }
    return image;
  }

  // Removes an image's pending entries when the sync is done with it (its
  // readers keep the GrowingBlobs they follow).
  struct PendingGuard {
    explicit PendingGuard(PendingImages* images) : images(images) {}
    ~PendingGuard() {
      if (images && handle) images->Remove(handle);
    }
    PendingGuard(const PendingGuard&) = delete;
    PendingGuard& operator=(const PendingGuard&) = delete;
    PendingImages* images;
    std::uint64_t handle = 0;
  };

  // Fetches and stores every blob of the plan (those a reader waits for
  // first), then its manifests, the image's own last, untagged.
  std::optional<Verdict> StoreImage(Plan& plan) {
    std::vector<Descriptor> left = plan.blobs;
    while (!left.empty()) {
      auto next = std::find_if(left.begin(), left.end(), [&](const Descriptor& d) {
        auto g = plan.growing.find(d.digest.str());
        return g != plan.growing.end() && g->second->wanted();
      });
      if (next == left.end()) next = left.begin();
      Descriptor blob = *next;
      left.erase(next);
      auto g = plan.growing.find(blob.digest.str());
      GrowingBlob* growing = g == plan.growing.end() ? nullptr : g->second.get();
      auto failed = StoreBlob(blob, growing);
      if (growing) growing->Finish(!failed);
      if (failed) {
        for (auto& [digest, other] : plan.growing) {
          if (other->state() != GrowingBlob::State::kVerified) other->Finish(false);
        }
        return failed;
      }
    }
    for (const auto& [manifest, parsed] : plan.manifests) {
      auto write = WriteOf(manifest, parsed);
      if (auto stored = StoreManifest(ctx_.locks, ctx_.blobs, ctx_.metadata, manifest.digest,
                                      manifest.bytes, write);
          !stored) {
        return FromError(stored.error(), "storing manifest " + manifest.digest.str());
      }
    }
    return std::nullopt;
  }

  // An index's children on the platforms the rule keeps (all of them when
  // it names none, and for a child without a platform).
  std::vector<Descriptor> KeptChildren(const UpstreamManifest& manifest,
                                       const ParsedManifest& parsed) {
    if (parsed.manifests.empty() || rule_.platforms.empty()) return parsed.manifests;
    // The platform of each child, by digest, from the index's own JSON.
    auto j = json::parse(manifest.bytes, nullptr, false);
    std::map<std::string, const json*> platforms;
    if (j.is_object() && j.contains("manifests") && j["manifests"].is_array()) {
      for (const auto& entry : j["manifests"]) {
        if (entry.is_object() && entry.contains("digest") && entry["digest"].is_string() &&
            entry.contains("platform") && entry["platform"].is_object()) {
          platforms[entry["digest"].get<std::string>()] = &entry["platform"];
        }
      }
    }
    std::vector<Descriptor> kept;
    for (const auto& child : parsed.manifests) {
      auto it = platforms.find(child.digest.str());
      if (it == platforms.end()) {
        kept.push_back(child);
        continue;
      }
      const json& platform = *it->second;
      auto field = [&](const char* key) {
        return platform.contains(key) && platform[key].is_string()
                   ? platform[key].get<std::string>()
                   : std::string();
      };
      if (rule_.KeepsPlatform(field("os"), field("architecture"), field("variant"))) {
        kept.push_back(child);
      }
    }
    return kept;
  }

  ManifestWrite WriteOf(const UpstreamManifest& manifest, const ParsedManifest& parsed) {
    ManifestWrite w;
    w.record = ManifestRecord{local_,
                              manifest.digest.str(),
                              parsed.media_type,
                              static_cast<std::int64_t>(manifest.bytes.size()),
                              parsed.artifact_type,
                              parsed.subject ? parsed.subject->digest.str() : std::string(),
                              parsed.annotations_json};
    if (parsed.config) w.blobs.push_back(parsed.config->digest.str());
    for (const auto& l : parsed.layers) {
      if (!l.foreign) w.blobs.push_back(l.digest.str());
    }
    // An index records the children it keeps: those of other platforms are
    // not here, and GC and fsck look for no more.
    for (const auto& c : KeptChildren(manifest, parsed)) w.children.push_back(c.digest.str());
    std::sort(w.blobs.begin(), w.blobs.end());
    w.blobs.erase(std::unique(w.blobs.begin(), w.blobs.end()), w.blobs.end());
    return w;
  }

  // One blob: linked when it is stored already, else streamed from upstream
  // into a new blob whose digest is checked before it is published.
  std::optional<Verdict> StoreBlob(const Descriptor& blob, GrowingBlob* growing) {
    const std::string what = "blob " + blob.digest.str();
    // One fetch of a blob per rule at a time: a pull-through that needs a
    // layer another is fetching waits for it, then finds it linked.
    auto fetching = ctx_.locks.Lock("mirror fetch " + rule_.name + " " + blob.digest.str());
    if (!fetching) return FromError(fetching.error(), what);
    auto linked = ctx_.metadata.LinkedBlobSize(local_, blob.digest.str());
    if (!linked) return FromError(linked.error(), what);
    if (*linked) {
      ++report_.blobs_present;
      return std::nullopt;
    }
    // A blob this rule fetched for another of its repositories is linked,
    // not fetched again. One Keep holds for anything else is fetched all the
    // same: an upstream that only names a digest must not make Keep serve
    // bytes it never sent (a private layer of another namespace, whose
    // digest leaked, would become readable here).
    for (const auto& repo : rule_.repositories) {
      std::string sibling = rule_.LocalRepository(repo);
      if (sibling == local_) continue;
      auto there = ctx_.metadata.LinkedBlobSize(sibling, blob.digest.str());
      if (!there) return FromError(there.error(), what);
      if (!*there) continue;
      auto stored = LinkStoredBlob(ctx_.locks, ctx_.blobs, ctx_.metadata, blob.digest, local_);
      if (!stored) return FromError(stored.error(), what);
      if (*stored) {
        ++report_.blobs_present;
        return std::nullopt;
      }
    }
    if (blob.size < 0) return Verdict{"refused", what + " has a negative size"};
    auto size = static_cast<std::uint64_t>(blob.size);
    observe_(
        {{"event", "blob"}, {"repository", local_}, {"digest", blob.digest.str()}, {"size", size}});
    // The bytes stream into an upload session of their own, named by the
    // digest: a fetch cut short (the upstream gone mid-layer) leaves them
    // there, and the next sync asks only for the rest (a Range request).
    // Housekeeping removes a session left unfinished past upload_ttl.
    const std::string session = FetchSession(rule_.name, blob.digest);
    auto writer = OpenSession(session, size);
    if (!writer) return FromError(writer.error(), what);
    const std::uint64_t offset = (*writer)->size();
    if (growing) growing->Grew(offset);
    if (offset > 0) {
      observe_({{"event", "resume"},
                {"repository", local_},
                {"digest", blob.digest.str()},
                {"offset", offset},
                {"size", size}});
    }
    auto started = Clock::now();
    auto last_report = started;
    std::uint64_t received = offset;
    auto fetched = upstream_.FetchBlob(
        upstream_repo_, blob.digest, size, offset, [&](std::string_view chunk) -> Result<void> {
          if (ctx_.stop && ctx_.stop->load()) {
            return Fail(ErrorCode::kUnavailable, "keepd is stopping");
          }
          KEEP_TRY((*writer)->Write(chunk.data(), chunk.size()));
          received += chunk.size();
          if (growing) growing->Grew((*writer)->stored());
          auto now = Clock::now();
          if (now - last_report >= std::chrono::milliseconds(250)) {
            last_report = now;
            observe_(Progress(blob, received, size, started));
          }
          return {};
        });
    report_.bytes_fetched += received - offset;
    if (!fetched) {
      return FromError(fetched.error(),
                       "fetching " + what + " (" + std::to_string((*writer)->size()) + " of " +
                           std::to_string(size) + " bytes kept for the next sync)");
    }
    if ((*writer)->size() != size) {
      writer->reset();
      DropSession(session);
      return Verdict{"refused", what + ": upstream sent " + std::to_string(received) +
                                    " bytes, the manifest says " + std::to_string(size)};
    }
    auto committed = CommitAndLink(ctx_.locks, ctx_.metadata, **writer, blob.digest, local_);
    writer->reset();
    if (committed || committed.error().code == ErrorCode::kDigestInvalid) DropSession(session);
    if (!committed) {
      if (committed.error().code == ErrorCode::kDigestInvalid) {
        AuditEvent event;
        event.action = "mirror.blob_refused";
        event.ns = std::string(NamespaceOf(local_));
        event.target = local_ + "@" + blob.digest.str();
        event.outcome = "refused";
        event.details = {{"event", "mirror blob refused"},
                         {"rule", rule_.name},
                         {"repository", local_},
                         {"reason", "the bytes upstream sent do not match their digest"}};
        Audit(std::move(event));
        return Verdict{"refused", what + ": the bytes upstream sent do not match their digest"};
      }
      return FromError(committed.error(), "storing " + what);
    }
    ++report_.blobs_fetched;
    observe_(Progress(blob, received, size, started));
    return std::nullopt;
  }

  // The upload session a fetch of `digest` streams into: the same for every
  // sync of the rule, so that one cut short resumes where it stopped.
  static std::string FetchSession(const std::string& rule, const Digest& digest) {
    Hasher h(DigestAlgorithm::kSha256);
    h.Update("keep mirror fetch " + rule + " " + digest.str());
    return h.Finish().hex().substr(0, 32);
  }

  // The session's writer, made when there is none; a session holding more
  // than the blob's size is started again.
  Result<std::unique_ptr<BlobWriter>> OpenSession(const std::string& session, std::uint64_t size) {
    auto held = ctx_.blobs.UploadSize(session);
    if (held && *held > size) {
      DropSession(session);
      held = Fail(ErrorCode::kBlobUploadUnknown, "started again");
    }
    if (!held) {
      if (held.error().code != ErrorCode::kBlobUploadUnknown) return held.error();
      (void)ctx_.metadata.DeleteUpload(session);
      KEEP_TRY(ctx_.metadata.CreateUpload(session, local_, /*owner=*/"", /*max_per_owner=*/0));
      KEEP_TRY(ctx_.blobs.CreateUpload(session));
    }
    auto writer = ctx_.blobs.ResumeUpload(session);
    if (!writer) {
      return Fail(writer.error().code,
                  "another sync is fetching it now (" + writer.error().message + ")");
    }
    return writer;
  }

  void DropSession(const std::string& session) {
    (void)ctx_.blobs.DeleteUpload(session);
    (void)ctx_.metadata.DeleteUpload(session);
  }

  json Progress(const Descriptor& blob, std::uint64_t received, std::uint64_t size,
                Clock::time_point started) {
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return {{"event", "progress"},
            {"repository", local_},
            {"digest", blob.digest.str()},
            {"received", received},
            {"size", size},
            {"bytes_per_second", seconds > 0 ? static_cast<double>(received) / seconds : 0.0}};
  }

  // Signs the stored manifest with the curator key (a cosign signature
  // manifest at sha256-<hex>.sig, recorded as verified by the curator key),
  // then points the tag at it.
  std::optional<Verdict> SignAndTag(const UpstreamManifest& manifest,
                                    const ParsedManifest& parsed) {
    const Digest& digest = manifest.digest;
    auto sigs = ctx_.metadata.SignaturesOf(local_, digest.str());
    if (!sigs) return FromError(sigs.error(), "reading signatures");
    const std::string& curator_id = ctx_.curator.public_key().key_id();
    auto signed_as = [&](std::string_view format) {
      return std::any_of(sigs->begin(), sigs->end(), [&](const SignatureRecord& s) {
        return s.key_id == curator_id && s.format == format;
      });
    };
    if (!signed_as(kFormatCosign)) {
      if (auto failed = SignCosign(digest)) return failed;
    }
    if (!signed_as(kFormatSigstoreBundle)) {
      if (auto failed = SignBundle(manifest, parsed)) return failed;
    }
    if (auto failed = KeepUpstreamReferrers(digest)) return failed;
    ManifestWrite tagged = WriteOf(manifest, parsed);
    tagged.tags = {tag_};
    if (auto stored =
            StoreManifest(ctx_.locks, ctx_.blobs, ctx_.metadata, digest, manifest.bytes, tagged);
        !stored) {
      return FromError(stored.error(), "tagging " + tag_);
    }
    return std::nullopt;
  }

  // Stores a signature artifact the curator made: its blobs, then its
  // manifest with the signature it carries, recorded as verified by the
  // curator key.
  std::optional<Verdict> StoreSignature(const std::vector<std::pair<Digest, std::string>>& blobs,
                                        const Digest& manifest_digest, const std::string& bytes,
                                        std::vector<std::string> tags, const char* format,
                                        const Digest& target) {
    for (const auto& [d, content] : blobs) {
      if (auto stored = StoreSmallBlob(ctx_.locks, ctx_.blobs, ctx_.metadata, d, content, local_);
          !stored) {
        return FromError(stored.error(), "storing the curator signature");
      }
    }
    auto parsed = ParseManifest(bytes, media::kOciManifest);
    if (!parsed) return FromError(parsed.error(), "the curator signature");
    ManifestWrite w = WriteOf(
        UpstreamManifest{std::string(media::kOciManifest), bytes, manifest_digest}, *parsed);
    w.tags = std::move(tags);
    w.signatures = {SignatureRecord{local_, target.str(), ctx_.curator.public_key().key_id(),
                                    format, manifest_digest.str(), UnixNow(), "", true}};
    if (auto stored =
            StoreManifest(ctx_.locks, ctx_.blobs, ctx_.metadata, manifest_digest, bytes, w);
        !stored) {
      return FromError(stored.error(), "storing the curator signature");
    }
    return std::nullopt;
  }

  // cosign's tag layout: a signature manifest at sha256-<hex>.sig, holding
  // the upstream's signature layers that verified and then the curator's, as
  // cosign appends a signer's layer.
  std::optional<Verdict> SignCosign(const Digest& digest) {
    std::string payload = MakeSimpleSigning(rule_.reference_host + "/" + local_, digest);
    auto signature = Sign(ctx_.curator.private_key(), payload);
    if (!signature) return FromError(signature.error(), "signing");
    CosignManifest cm = BuildCosignManifest(payload, *signature, kept_.cosign_layers);
    std::vector<std::pair<Digest, std::string>> blobs{{cm.config_digest, cm.config},
                                                      {cm.payload_digest, cm.payload}};
    for (const auto& layer : kept_.cosign_layers) {
      auto d = Digest::Parse(layer.value("digest", ""));
      auto bytes = d ? kept_.blobs.find(d->str()) : kept_.blobs.end();
      if (bytes == kept_.blobs.end()) return Verdict{"failed", "a kept signature lost its payload"};
      blobs.emplace_back(*d, bytes->second);
    }
    return StoreSignature(blobs, cm.manifest_digest, cm.manifest, {CosignSignatureTag(digest)},
                          kFormatCosign, digest);
  }

  // The upstream's signature referrers that verified with the rule's keys,
  // kept byte for byte beside the image (their subject is its digest, which
  // the mirror keeps), vouched for by the curator.
  std::optional<Verdict> KeepUpstreamReferrers(const Digest& digest) {
    for (const auto& referrer : kept_.referrers) {
      auto held = ctx_.metadata.GetManifest(local_, referrer.digest.str());
      if (!held) return FromError(held.error(), "reading " + referrer.digest.str());
      if (*held) continue;
      auto parsed = ParseManifest(referrer.manifest, media::kOciManifest);
      if (!parsed) continue;  // trust/ read it strictly already; nothing else is kept
      std::vector<std::pair<Digest, std::string>> blobs;
      std::vector<Descriptor> wanted;
      if (parsed->config) wanted.push_back(*parsed->config);
      wanted.insert(wanted.end(), parsed->layers.begin(), parsed->layers.end());
      for (const auto& d : wanted) {
        auto bytes = kept_.blobs.find(d.digest.str());
        if (bytes == kept_.blobs.end()) return Verdict{"failed", "a kept signature lost a blob"};
        blobs.emplace_back(d.digest, bytes->second);
      }
      if (auto failed = StoreSignature(blobs, referrer.digest, referrer.manifest, {},
                                       kFormatMirrored, digest)) {
        return failed;
      }
    }
    return std::nullopt;
  }

  // cosign v3's form: a sigstore bundle (a DSSE envelope over cosign's
  // signing statement) attached as a referrer of the image.
  std::optional<Verdict> SignBundle(const UpstreamManifest& manifest,
                                    const ParsedManifest& parsed) {
    const Digest& digest = manifest.digest;
    std::string statement = MakeSignStatement(digest);
    auto signature = Sign(ctx_.curator.private_key(), DssePae(kInTotoPayloadType, statement));
    if (!signature) return FromError(signature.error(), "signing");
    BundleManifest bm = BuildBundleManifest(
        digest, parsed.media_type, static_cast<std::int64_t>(manifest.bytes.size()), statement,
        *signature, ctx_.curator.public_key(), Rfc3339Now());
    return StoreSignature({{bm.config_digest, bm.config}, {bm.bundle_digest, bm.bundle}},
                          bm.manifest_digest, bm.manifest, {}, kFormatSigstoreBundle, digest);
  }

  static std::string Rfc3339Now() { return Rfc3339Utc(UnixNow()); }

  TagOutcome Finish(TagOutcome out, const Verdict& v) {
    out.state = v.state;
    out.reason = v.reason;
    return Record(out);
  }

  // Writes the tag's record and the audit line, and tells the observer.
  TagOutcome Record(TagOutcome out) {
    auto previous = ctx_.metadata.GetMirrorTag(rule_.name, local_, tag_);
    MirrorTagRecord rec;
    if (previous && *previous) rec = **previous;
    rec.rule = rule_.name;
    rec.repository = local_;
    rec.tag = tag_;
    if (out.state == "synced" || out.state == "unchanged") {
      rec.digest = out.digest;
      rec.pending.clear();
      rec.state = "synced";
      rec.reason.clear();
    } else if (out.state == "held") {
      rec.pending = out.digest;
      rec.state = "held";
      rec.reason = out.reason;
    } else if (out.state == "refused") {
      rec.state = "refused";
      rec.reason = out.reason;
    } else if (rec.state.empty() || rec.state == "failed") {
      // An upstream that cannot be read changes nothing of a tag's vetting
      // state; a tag never synced records the failure.
      rec.state = "failed";
      rec.reason = out.reason;
    }
    if (auto written = ctx_.metadata.PutMirrorTag(rec); !written && out.reason.empty()) {
      out.reason = "its record could not be written: " + written.error().message;
    }
    if (out.state != "unchanged") {
      AuditEvent event;
      event.action = "mirror." + out.state;
      event.ns = std::string(NamespaceOf(local_));
      event.target = local_ + ":" + tag_;
      event.outcome = out.state == "synced" ? "ok" : out.state;
      event.details = {{"event", "mirror " + out.state},
                       {"rule", rule_.name},
                       {"upstream", upstream_.url() + "/" + upstream_repo_},
                       {"repository", local_},
                       {"tag", tag_},
                       {"digest", out.digest},
                       {"reason", out.reason}};
      Audit(std::move(event));
    }
    observe_({{"event", "tag"},
              {"repository", local_},
              {"tag", tag_},
              {"digest", out.digest},
              {"state", out.state},
              {"reason", out.reason}});
    report_.tags.push_back(out);
    return out;
  }

  const Rule& rule_;
  Upstream& upstream_;
  SyncContext& ctx_;
  SyncReport& report_;
  const SyncObserver& observe_;
  std::string upstream_repo_;
  std::string local_;
  std::string tag_;
  KeptSignatures kept_;  // the upstream's signatures that verified, to keep
};

}  // namespace

int SyncReport::Count(std::string_view state) const {
  return static_cast<int>(std::count_if(tags.begin(), tags.end(),
                                        [&](const TagOutcome& t) { return t.state == state; }));
}

nlohmann::json SyncReport::ToJson() const {
  json list = json::array();
  for (const auto& t : tags) {
    json item = {{"repository", t.repository},
                 {"upstream", t.upstream},
                 {"tag", t.tag},
                 {"digest", t.digest},
                 {"state", t.state}};
    if (!t.reason.empty()) item["reason"] = t.reason;
    list.push_back(std::move(item));
  }
  return {{"tags", list},
          {"synced", Count("synced")},
          {"unchanged", Count("unchanged")},
          {"refused", Count("refused")},
          {"held", Count("held")},
          {"failed", Count("failed")},
          {"bytes_fetched", bytes_fetched},
          {"blobs_fetched", blobs_fetched},
          {"blobs_present", blobs_present}};
}

TagOutcome SyncTag(const Rule& rule, Upstream& upstream, SyncContext& ctx,
                   const SyncObserver& observe, const std::string& upstream_repo,
                   const std::string& tag, SyncReport& report) {
  return TagSync(rule, upstream, ctx, report, observe, upstream_repo, tag).Run();
}

SyncReport SyncRule(const Rule& rule, Upstream& upstream, SyncContext& ctx,
                    const SyncObserver& observe) {
  SyncReport report;
  for (const auto& repo : rule.repositories) {
    std::vector<std::string> tags;
    if (rule.HasGlobs()) {
      auto listed = upstream.ListTags(repo);
      if (!listed) {
        TagOutcome failed{rule.LocalRepository(repo),
                          repo,
                          "*",
                          "",
                          "failed",
                          "listing the upstream's tags: " + listed.error().message};
        observe({{"event", "tag"},
                 {"repository", failed.repository},
                 {"tag", failed.tag},
                 {"state", failed.state},
                 {"reason", failed.reason}});
        report.tags.push_back(std::move(failed));
        continue;
      }
      for (const auto& t : *listed) {
        if (rule.AllowsTag(t) && IsValidTag(t) && !IsCosignSignatureTag(t)) tags.push_back(t);
      }
    } else {
      tags = rule.tags;
    }
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    for (const auto& tag : tags) {
      if (ctx.stop && ctx.stop->load()) return report;
      TagSync(rule, upstream, ctx, report, observe, repo, tag).Run();
    }
  }
  return report;
}

}  // namespace keep::mirror
