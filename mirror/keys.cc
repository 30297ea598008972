#include "mirror/keys.h"

#include "core/base64.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keep::mirror {
namespace {

// The whole content of a small private file; nullopt when it does not exist.
Result<std::optional<std::string>> ReadPrivate(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Fail(ErrorCode::kInternal, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < 65536) out.append(buf, n);
  int err = errno;
  ::close(fd);
  if (n < 0) return Fail(ErrorCode::kInternal, "cannot read " + path + ": " + std::strerror(err));
  return std::optional<std::string>(std::move(out));
}

// Writes a new private file (0600) whole, durably, under its final name.
Result<void> WritePrivate(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return Fail(ErrorCode::kInternal, "cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  // link() rather than rename(): a file made meanwhile by another process is kept.
  if (!ok || ::link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kInternal, "cannot write " + path + ": " + std::strerror(err));
  }
  ::unlink(tmp.c_str());
  return {};
}

}  // namespace

Result<Curator> Curator::LoadOrCreate(const std::string& data_dir) {
  std::string path = data_dir + "/curator.key";
  auto text = ReadPrivate(path);
  if (!text) return text.error();
  if (!*text) {
    auto pair = GenerateKeyPair(kAlgorithmEd25519, "");
    if (!pair) return pair.error();
    KEEP_TRY(WritePrivate(path, pair->private_pem));
    text = ReadPrivate(path);
    if (!text) return text.error();
    if (!*text) return Fail(ErrorCode::kInternal, "the curator key " + path + " vanished");
  }
  auto key = ParsePrivateKey(**text, "");
  if (!key) {
    return Fail(ErrorCode::kInternal, "the curator key " + path + " is damaged (" +
                                          key.error().message +
                                          "); move it away to make a new one at the next start");
  }
  return Curator(std::move(*key));
}

Result<SecretBox> SecretBox::LoadOrCreate(const std::string& data_dir) {
  std::string path = data_dir + "/mirror-secrets.key";
  SecretBox box;
  auto text = ReadPrivate(path);
  if (!text) return text.error();
  if (!*text) {
    randombytes_buf(box.key_.data(), box.key_.size());
    KEEP_TRY(WritePrivate(
        path, std::string_view(reinterpret_cast<const char*>(box.key_.data()), box.key_.size())));
    text = ReadPrivate(path);
    if (!text) return text.error();
  }
  if (!*text || (*text)->size() != box.key_.size()) {
    return Fail(ErrorCode::kInternal, "the mirror's secret key " + path + " is damaged");
  }
  std::memcpy(box.key_.data(), (*text)->data(), box.key_.size());
  return box;
}

std::string SecretBox::Seal(std::string_view plain) const {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nonce,
                        key_.data());
  return EncodeBase64(out);
}

Result<std::string> SecretBox::Open(std::string_view sealed) const {
  auto raw = DecodeBase64(sealed);
  if (!raw || raw->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return Fail(ErrorCode::kInternal, "stored credentials are damaged");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  std::string plain(raw->size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(
          reinterpret_cast<unsigned char*>(plain.data()), nonce + crypto_secretbox_NONCEBYTES,
          raw->size() - crypto_secretbox_NONCEBYTES, nonce, key_.data()) != 0) {
    return Fail(ErrorCode::kInternal,
                "stored credentials cannot be opened with mirror-secrets.key (was it replaced?); "
                "give the rule its password again");
  }
  return plain;
}

}  // namespace keep::mirror
