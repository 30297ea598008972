#include "storage/secrets.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace keep {

Result<std::optional<std::string>> ReadPrivateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return OperatorFault(ErrorCode::kInternal, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < 65536) out.append(buf, n);
  int err = errno;
  ::close(fd);
  if (n < 0)
    return OperatorFault(ErrorCode::kInternal, "cannot read " + path + ": " + std::strerror(err));
  return std::optional<std::string>(std::move(out));
}

Result<void> WritePrivateFile(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return OperatorFault(ErrorCode::kInternal,
                         "cannot create " + tmp + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  // link() rather than rename(): a file made meanwhile by another process is kept.
  if (!ok || (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST)) {
    int err = errno;
    ::unlink(tmp.c_str());
    return OperatorFault(ErrorCode::kInternal, "cannot write " + path + ": " + std::strerror(err));
  }
  ::unlink(tmp.c_str());
  return {};
}

Result<std::string> KeepSecret(Metadata& metadata, const std::string& path, const std::string& what,
                               const std::function<std::string()>& make) {
  auto file = ReadPrivateFile(path);
  if (!file) return file.error();
  // Named in the database as the file is in the data directory.
  const std::string name = std::filesystem::path(path).filename().string();
  const std::string offer = *file ? **file : make();
  if (offer.empty()) return OperatorFault(ErrorCode::kInternal, "cannot make " + what);
  auto shared = metadata.SharedSecret(name, offer);
  if (shared) {
    if (!*file) {
      KEEP_TRY(WritePrivateFile(path, *shared));
    } else if (**file != *shared) {
      std::fprintf(stderr,
                   "keepd: %s in %s is not the one the replicas share; the database's is used "
                   "(move the file away to have a copy of it written there)\n",
                   what.c_str(), path.c_str());
    }
    return *shared;
  }
  if (shared.error().code != ErrorCode::kUnsupported) return shared.error();
  if (*file) return **file;
  return FileSecret(path, what, make);
}

Result<std::string> FileSecret(const std::string& path, const std::string& what,
                               const std::function<std::string()>& make) {
  auto file = ReadPrivateFile(path);
  if (!file) return file.error();
  if (!*file) {
    const std::string made = make();
    if (made.empty()) return OperatorFault(ErrorCode::kInternal, "cannot make " + what);
    KEEP_TRY(WritePrivateFile(path, made));
    file = ReadPrivateFile(path);  // another process's, if it wrote one first
    if (!file) return file.error();
    if (!*file) return OperatorFault(ErrorCode::kInternal, what + " " + path + " vanished");
  }
  return **file;
}

}  // namespace keep
