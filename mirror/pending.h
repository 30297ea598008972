// mirror/pending.h — what a pull-through has vetted but not stored whole
// yet, so that a client's pull need not wait for every layer to land: the
// image's manifests, served as soon as they passed the rule's vetting, and
// its blobs, each followed by readers while it arrives from upstream.
//
// A GrowingBlob is written by the one fetch of the blob (mirror/sync.cc) into
// an upload session, and read by any number of readers through the session's
// data (BlobDriver::OpenUpload), never past what was written; its last byte
// only once its digest matched, so that a reader whose blob turns out not to
// match its digest never receives it whole (the response is cut short). A
// PendingImages holds, per local repository, what is pending; the sync
// removes its entries once the image is stored, signed and tagged, or failed.
//
// Thread-safe.
#pragma once

#include "core/digest.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace keep::mirror {

class GrowingBlob {
 public:
  enum class State { kWaiting, kGrowing, kVerified, kFailed };

  GrowingBlob(std::uint64_t size, std::string session)
      : size_(size), session_(std::move(session)) {}

  std::uint64_t size() const { return size_; }
  // The upload session its bytes are written to (BlobDriver::OpenUpload).
  const std::string& session() const { return session_; }
  State state() const { return state_.load(); }
  // How many of its bytes a reader may have now: what was written, less the
  // last byte until the digest matched; all of them once it did.
  std::uint64_t readable() const;

  // A reader waits for it: it is fetched before blobs no one asked for.
  void Want() { wanted_ = true; }
  bool wanted() const { return wanted_.load(); }

  // The fetch's side.
  void Grew(std::uint64_t written);  // the session holds `written` bytes
  void Finish(bool verified);

 private:
  const std::uint64_t size_;
  const std::string session_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<State> state_{State::kWaiting};
  std::atomic<bool> wanted_{false};
};

// A manifest a pull-through vetted, as the upstream sent it.
struct PendingManifest {
  std::string media_type;
  std::string bytes;
  Digest digest;
};

class PendingImages {
 public:
  // One image's entries, removed together.
  struct Image {
    std::string repository;                  // local
    std::string tag;                         // the tag pulled through
    std::vector<PendingManifest> manifests;  // the tagged one first, then its children
    std::map<std::string, std::shared_ptr<GrowingBlob>> blobs;  // by digest
  };

  // Publishes an image's entries; returns its handle for Remove.
  std::uint64_t Add(Image image);
  void Remove(std::uint64_t handle);

  // The pending manifest of `repository` by tag or digest.
  std::optional<PendingManifest> Manifest(const std::string& repository,
                                          const std::string& reference) const;
  // The pending blob of `repository`, or null.
  std::shared_ptr<GrowingBlob> Blob(const std::string& repository, const std::string& digest) const;

 private:
  mutable std::mutex mu_;
  std::uint64_t next_ = 1;                 // GUARDED_BY(mu_)
  std::map<std::uint64_t, Image> images_;  // GUARDED_BY(mu_)
};

}  // namespace keep::mirror
