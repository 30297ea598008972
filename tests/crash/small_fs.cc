#include "tests/crash/small_fs.h"

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

std::string Quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs a shell command with its output discarded; true when it exited with 0.
bool Run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

bool MountTmpfs(const fs::path& dir, std::uint64_t bytes, std::string* why) {
  std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0) return true;
  *why += "mounting a tmpfs failed: " + std::string(std::strerror(errno)) + "; ";
  return false;
}

// An ext4 image beside dir, mounted with `mount -o loop`; the image's path, or empty.
fs::path MountExt4Image(const fs::path& dir, std::uint64_t bytes, std::string* why) {
  fs::path image = dir.string() + ".ext4";
  std::error_code ec;
  fs::remove(image, ec);
  if (!Run("truncate -s " + std::to_string(bytes) + " " + Quoted(image)) ||
      !Run("mkfs.ext4 -q -F -m 0 " + Quoted(image))) {
    *why += "making an ext4 image failed (truncate, mkfs.ext4); ";
  } else if (!Run("mount -o loop " + Quoted(image) + " " + Quoted(dir))) {
    *why += "loop-mounting an ext4 image failed; ";
  } else {
    return image;
  }
  fs::remove(image, ec);
  return {};
}

}  // namespace

std::unique_ptr<SmallFilesystem> SmallFilesystem::Mount(const fs::path& dir, std::uint64_t bytes,
                                                        std::string* why) {
  why->clear();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    *why = "cannot create " + dir.string() + ": " + ec.message();
    return nullptr;
  }
  const char* only = std::getenv("KEEP_TEST_SMALL_FS");
  bool try_tmpfs = !(only && std::string(only) == "ext4");
  if (try_tmpfs && MountTmpfs(dir, bytes, why)) {
    return std::unique_ptr<SmallFilesystem>(new SmallFilesystem(dir, "tmpfs", {}));
  }
  if (fs::path image = MountExt4Image(dir, bytes, why); !image.empty()) {
    return std::unique_ptr<SmallFilesystem>(
        new SmallFilesystem(dir, "ext4 on a loop device", image));
  }
  fs::remove(dir, ec);
  if (why->ends_with("; ")) why->resize(why->size() - 2);
  return nullptr;
}

std::uint64_t SmallFilesystem::free_bytes() const {
  struct statvfs st {};
  if (::statvfs(dir_.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bfree) * st.f_frsize;
}

SmallFilesystem::~SmallFilesystem() {
  if (::umount2(dir_.c_str(), 0) != 0 && ::umount2(dir_.c_str(), MNT_DETACH) != 0) {
    std::cerr << "cannot unmount " << dir_ << ": " << std::strerror(errno) << "\n";
    return;
  }
  std::error_code ec;
  fs::remove(dir_, ec);
  if (!image_.empty()) fs::remove(image_, ec);  // `mount -o loop` frees the device itself
}

}  // namespace keep::testkit
