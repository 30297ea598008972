// tests/crash/small_fs.h — a small filesystem mounted for a test, to run a
// server out of disk space: a tmpfs if mounting one is permitted, else an
// ext4 image on a loop device. Needs root (CAP_SYS_ADMIN).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace keep::testkit {

class SmallFilesystem {
 public:
  // Mounts `bytes` of space at dir (created). nullptr when neither kind can
  // be mounted; *why then says what was tried and how it failed.
  // KEEP_TEST_SMALL_FS=ext4 skips the tmpfs attempt (to test the fallback).
  static std::unique_ptr<SmallFilesystem> Mount(const std::filesystem::path& dir,
                                                std::uint64_t bytes, std::string* why);
  // Unmounts (lazily when still busy), then removes the image and the directory.
  ~SmallFilesystem();
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;

  const std::string& kind() const { return kind_; }  // "tmpfs" or "ext4 on a loop device"
  const std::filesystem::path& dir() const { return dir_; }
  std::uint64_t free_bytes() const;  // as statvfs says, for root

 private:
  SmallFilesystem(std::filesystem::path dir, std::string kind, std::filesystem::path image)
      : dir_(std::move(dir)), kind_(std::move(kind)), image_(std::move(image)) {}

  std::filesystem::path dir_;
  std::string kind_;
  std::filesystem::path image_;  // empty for tmpfs
};

}  // namespace keep::testkit
