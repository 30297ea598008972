#include "mirror/pending.h"

namespace keep::mirror {

std::uint64_t GrowingBlob::readable() const {
  // Read the state first: once verified, every byte was written before.
  State s = state_.load();
  if (s == State::kVerified) return size_;
  std::uint64_t written = written_.load();
  if (size_ == 0) return 0;
  return written < size_ ? written : size_ - 1;
}

void GrowingBlob::Grew(std::uint64_t written) {
  written_ = written;
  State waiting = State::kWaiting;
  state_.compare_exchange_strong(waiting, State::kGrowing);
}

void GrowingBlob::Finish(bool verified) { state_ = verified ? State::kVerified : State::kFailed; }

std::uint64_t PendingImages::Add(Image image) {
  std::lock_guard lock(mu_);
  std::uint64_t handle = next_++;
  images_.emplace(handle, std::move(image));
  return handle;
}

void PendingImages::Remove(std::uint64_t handle) {
  std::lock_guard lock(mu_);
  images_.erase(handle);
}

std::optional<PendingManifest> PendingImages::Manifest(const std::string& repository,
                                                       const std::string& reference) const {
  std::lock_guard lock(mu_);
  for (const auto& [handle, image] : images_) {
    if (image.repository != repository || image.manifests.empty()) continue;
    if (image.tag == reference) return image.manifests.front();
    for (const auto& m : image.manifests) {
      if (m.digest.str() == reference) return m;
    }
  }
  return std::nullopt;
}

std::shared_ptr<GrowingBlob> PendingImages::Blob(const std::string& repository,
                                                 const std::string& digest) const {
  std::lock_guard lock(mu_);
  for (const auto& [handle, image] : images_) {
    if (image.repository != repository) continue;
    if (auto it = image.blobs.find(digest); it != image.blobs.end()) return it->second;
  }
  return nullptr;
}

}  // namespace keep::mirror
