#include "cli/config.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace keep::cli {
namespace {

namespace fs = std::filesystem;

std::string Errno() { return std::strerror(errno); }

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Creates the missing directories of `dir`, each 0700 (existing ones are left as they are).
Result<void> MakeDirectories(const fs::path& dir) {
  fs::path prefix;
  for (const fs::path& part : dir) {
    prefix /= part;
    struct stat st {};
    if (::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return Failed("cannot create the directory " + prefix.string() + ": " + Errno());
    }
  }
  return {};
}

bool WriteAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

Result<std::string> ReadAll(int fd, const fs::path& path) {
  std::string data;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Failed("cannot read " + path.string() + ": " + Errno());
    if (n == 0) return data;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > (1 << 20)) return Failed(path.string() + " is too large for a credentials file");
  }
}

}  // namespace

std::string EnvOrEmpty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Result<fs::path> CredentialsPath() {
  if (std::string p = EnvOrEmpty("KEEPCTL_CONFIG"); !p.empty()) return fs::path(p);
  // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
  if (std::string xdg = EnvOrEmpty("XDG_CONFIG_HOME"); !xdg.empty() && xdg.front() == '/') {
    return fs::path(xdg) / "keep" / "keepctl.json";
  }
  if (std::string home = EnvOrEmpty("HOME"); !home.empty()) {
    return fs::path(home) / ".config" / "keep" / "keepctl.json";
  }
  return Failed("cannot tell where to keep the credentials: HOME is not set",
                "set KEEPCTL_CONFIG to the path of the file to use");
}

Result<std::optional<Credentials>> LoadCredentials(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<Credentials>();
    return Failed("cannot open " + path.string() + ": " + Errno());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Failed(path.string() + " is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return Failed(path.string() + " belongs to another user; refusing to use the password in it",
                  "run `keepctl login` to write your own, or set KEEPCTL_CONFIG");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Failed(path.string() + " may be read by other users (mode " + Octal(st.st_mode) +
                      "); refusing to use the password in it",
                  "run `chmod 600 " + path.string() + "`");
  }
  auto data = ReadAll(fd, path);
  ::close(fd);
  if (!data) return data.error();
  auto json = nlohmann::json::parse(*data, nullptr, false);
  auto text = [&](const char* key) -> std::optional<std::string> {
    if (!json.is_object() || !json.contains(key) || !json[key].is_string()) return std::nullopt;
    return json[key].get<std::string>();
  };
  auto server = text("server");
  auto user = text("user");
  auto password = text("password");
  if (!server || !user || !password || (json.contains("ca") && !text("ca"))) {
    return Failed(path.string() + " is not a keepctl credentials file",
                  "run `keepctl login` to write it again");
  }
  return std::optional<Credentials>(
      Credentials{*server, *user, *password, text("ca").value_or("")});
}

Result<void> SaveCredentials(const fs::path& path, const Credentials& c) {
  if (path.has_parent_path()) KEEPCTL_TRY(MakeDirectories(path.parent_path()));
  nlohmann::json json = {
      {"server", c.server}, {"user", c.user}, {"password", c.password}, {"ca", c.ca}};
  std::string data = json.dump(2) + "\n";

  std::string tmp = path.string() + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // created 0600
  if (fd < 0) return Failed("cannot write " + path.string() + ": " + Errno());
  bool ok = ::fchmod(fd, 0600) == 0 && WriteAll(fd, data) && ::fsync(fd) == 0;
  std::string error = ok ? "" : Errno();
  if (::close(fd) != 0 && ok) {
    ok = false;
    error = Errno();
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    error = Errno();
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return Failed("cannot write " + path.string() + ": " + error);
  }
  return {};
}

Result<bool> RemoveCredentials(const fs::path& path) {
  if (::unlink(path.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  return Failed("cannot remove " + path.string() + ": " + Errno());
}

}  // namespace keep::cli
