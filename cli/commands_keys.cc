// keepctl key generate|add|list|show|revoke and policy show|set.
#include "cli/commands.h"
#include "cli/prompt.h"

#include "trust/keys.h"
#include "trust/openpgp.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace keep::cli {
namespace {

const Column kKeyColumns[] = {Field("KEY_ID", "key_id"), Field("NAME", "name"),
                              Field("ALGORITHM", "algorithm"), Field("ADDED_BY", "added_by"),
                              TimeField("ADDED", "added_at"), Field("REVOKED", "revoked")};

const Column kKeyLines[] = {Field("key_id", "key_id"), Field("name", "name"),
                            Field("algorithm", "algorithm"), Field("added_by", "added_by"),
                            TimeField("added", "added_at"), Field("revoked", "revoked")};

const Column kPolicyLines[] = {
    Field("mode", "mode"), Field("threshold", "threshold"),
    {"quarantine_ttl", [](const nlohmann::json& p) {
       const auto& ttl = At(p, "quarantine_ttl");
       return ttl.is_number_integer() ? FormatDuration(ttl.get<std::int64_t>()) : Text(ttl);
     }}};

// Creates `path` for writing with `mode`; never replaces a file that exists.
Result<int> CreateNew(const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0 && errno == EEXIST) {
    return Failed(path + " exists already; keepctl does not overwrite keys",
                  "choose another --out, or remove the old key pair yourself");
  }
  if (fd < 0) return Failed("cannot create " + path + ": " + std::strerror(errno));
  if (::fchmod(fd, mode) != 0) {  // the umask may have taken bits away; never added any
    std::string why = std::strerror(errno);
    ::close(fd);
    return Failed("cannot set the mode of " + path + ": " + why);
  }
  return fd;
}

Result<void> WriteAndClose(int fd, const std::string& path, std::string_view data) {
  bool ok = true;
  while (ok && !data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) data.remove_prefix(static_cast<std::size_t>(n));
  }
  ok = ok && ::fsync(fd) == 0;
  std::string why = ok ? "" : std::strerror(errno);
  if (::close(fd) != 0 && ok) {
    ok = false;
    why = std::strerror(errno);
  }
  if (!ok) return Failed("cannot write " + path + ": " + why);
  return {};
}

// The key whose id is `id`, or starts with it and is the only one that does.
Result<nlohmann::json> FindKey(AdminClient& client, const std::string& ns, const std::string& id) {
  auto answer = client.Get(PathOf({"namespaces", ns, "keys"}));
  if (!answer) return answer.error();
  const auto& keys = At(*answer, "keys");
  std::vector<nlohmann::json> found;
  for (const auto& key : keys.is_array() ? keys : nlohmann::json::array()) {
    std::string key_id = Text(At(key, "key_id"));
    if (key_id == id) return Ok(key);
    if (!id.empty() && key_id.rfind(id, 0) == 0) found.push_back(key);
  }
  if (found.size() > 1) {
    return Failed("the key id " + id + " is ambiguous in " + ns + ": " +
                  std::to_string(found.size()) + " keys start with it",
                  "give more of the id (`keepctl key list " + ns + "` shows them)");
  }
  if (found.empty()) {
    Failure f = Failed("no key " + id + " in the namespace " + ns,
                       "`keepctl key list " + ns + "` shows its keys");
    f.http_status = 404;
    return f;
  }
  return Ok(found.front());
}

}  // namespace

Result<void> KeyGenerate(const Invocation& inv) {
  const std::string prefix = inv.Value("out").value_or("");
  if (prefix.empty()) return Usage("--out needs a PREFIX", "keepctl key generate");
  const std::string algorithm = inv.Value("algorithm").value_or(std::string(kAlgorithmEd25519));
  if (algorithm != kAlgorithmEd25519 && algorithm != kAlgorithmEcdsaP256) {
    return Usage("--algorithm takes ed25519 or ecdsa-p256, not \"" + algorithm + "\"",
                 "keepctl key generate");
  }
  std::string passphrase;
  if (inv.Flag("passphrase-stdin")) {
    auto read = ReadPasswordFromStdin("--passphrase-stdin", "passphrase");
    if (!read) return read.error();
    passphrase = std::move(*read);
  }
  auto pair = GenerateKeyPair(algorithm, passphrase);
  if (!pair) return Failed("cannot generate a key pair: " + pair.error().message);

  const std::string key_path = prefix + ".key";
  const std::string pub_path = prefix + ".pub";
  auto key_fd = CreateNew(key_path, 0600);
  if (!key_fd) return key_fd.error();
  auto pub_fd = CreateNew(pub_path, 0644);
  if (!pub_fd) {
    ::close(*key_fd);
    ::unlink(key_path.c_str());  // ours, just created and still empty
    return pub_fd.error();
  }
  auto wrote = WriteAndClose(*key_fd, key_path, pair->private_pem);
  auto wrote_pub = WriteAndClose(*pub_fd, pub_path, pair->public_pem);
  if (!wrote || !wrote_pub) {
    ::unlink(key_path.c_str());
    ::unlink(pub_path.c_str());
    return wrote ? wrote_pub.error() : wrote.error();
  }
  nlohmann::json answer = {{"key_id", pair->key_id},     {"algorithm", algorithm},
                           {"private_key", key_path},    {"public_key", pub_path},
                           {"encrypted", !passphrase.empty()}};
  Show(inv, answer, [&] {
    std::cout << "Generated an " << algorithm << " key pair: " << key_path << " (private, "
              << (passphrase.empty() ? "not encrypted" : "encrypted") << ") and " << pub_path
              << " (public)\n"
              << "key_id: " << pair->key_id << "\n";
  });
  return {};
}

Result<void> KeyAdd(const Invocation& inv) {
  const std::string file = inv.Value("file").value_or("");
  auto pem = ReadSmallFile(file, 64 << 10);
  if (!pem) return pem.error();
  if (pem->find("PRIVATE KEY") != std::string::npos) {
    return Failed(file + " holds a private key; nothing was sent",
                  "give the public key: PREFIX.pub of `keepctl key generate`, or `gpg --armor "
                  "--export FINGERPRINT`");
  }
  // An armored OpenPGP key (GPG signatures), else a PEM public key (cosign).
  std::string public_key;
  if (pem->find("-----BEGIN PGP PUBLIC KEY BLOCK-----") != std::string::npos) {
    auto key = ParseOpenPgpPublicKey(*pem);
    if (!key) return Failed("cannot use " + file + ": " + key.error().message);
    public_key = key->armored;
  } else {
    auto key = ParsePublicKey(*pem);
    if (!key) {
      return Failed("cannot use " + file + ": " + key.error().message,
                    "give a PEM public key (ECDSA P-256 or Ed25519) or an armored OpenPGP "
                    "public key (gpg --armor --export)");
    }
    public_key = key->pem();
  }
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  const std::string& ns = inv.args[0];
  auto added = client->Post(PathOf({"namespaces", ns, "keys"}),
                            {{"name", inv.Value("name").value_or("")}, {"public_key", public_key}});
  if (!added) return added.error();
  Show(inv, *added, [&] {
    std::cout << "Added " << Text(At(*added, "algorithm")) << " key "
              << Text(At(*added, "name")) << " to " << ns << "\n";
    std::cout << "key_id: " << Text(At(*added, "key_id")) << "\n";
  });
  return {};
}

Result<void> KeyList(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto answer = client->Get(PathOf({"namespaces", inv.args[0], "keys"}));
  if (!answer) return answer.error();
  Show(inv, *answer, [&] { PrintTable(std::cout, At(*answer, "keys"), kKeyColumns); });
  return {};
}

Result<void> KeyShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto key = FindKey(*client, inv.args[0], inv.args[1]);
  if (!key) return key.error();
  Show(inv, *key, [&] {
    PrintObject(std::cout, *key, kKeyLines);
    std::cout << "public_key:\n" << Text(At(*key, "public_key"));
  });
  return {};
}

Result<void> KeyRevoke(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  const std::string& ns = inv.args[0];
  auto key = FindKey(*client, ns, inv.args[1]);
  if (!key) return key.error();
  const std::string key_id = Text(At(*key, "key_id"));
  auto revoked = client->Delete(PathOf({"namespaces", ns, "keys", key_id}));
  if (!revoked) return revoked.error();
  Show(inv, *revoked, [&] {
    std::cout << "Revoked key " << key_id << " (" << Text(At(*key, "name")) << ") in " << ns
              << "\n";
  });
  return {};
}

Result<void> PolicyShow(const Invocation& inv) {
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto policy = client->Get(PathOf({"namespaces", inv.args[0], "policy"}));
  if (!policy) return policy.error();
  Show(inv, *policy, [&] { PrintObject(std::cout, *policy, kPolicyLines); });
  return {};
}

Result<void> PolicySet(const Invocation& inv) {
  const std::string command = "keepctl policy set";
  nlohmann::json body = nlohmann::json::object();
  if (auto mode = inv.Value("mode")) {
    if (*mode != "quarantine" && *mode != "strict" && *mode != "open") {
      return Usage("--mode takes quarantine, strict or open, not \"" + *mode + "\"", command);
    }
    body["mode"] = *mode;
  }
  if (auto threshold = inv.Value("threshold")) {
    char* end = nullptr;
    long n = std::strtol(threshold->c_str(), &end, 10);
    if (threshold->empty() || *end != '\0' || n < 1 || n > 1000) {
      return Usage("--threshold takes a number of keys (1-16), not \"" + *threshold + "\"",
                   command);
    }
    body["threshold"] = n;
  }
  if (auto ttl = inv.Value("quarantine-ttl")) {
    auto seconds = ParseDuration(*ttl, "--quarantine-ttl", command);
    if (!seconds) return seconds.error();
    body["quarantine_ttl"] = *seconds;
  }
  if (body.empty()) return Usage("nothing to change: give --mode, --threshold or --quarantine-ttl", command);
  auto client = ConnectSaved(inv);
  if (!client) return client.error();
  auto policy = client->Put(PathOf({"namespaces", inv.args[0], "policy"}), body);
  if (!policy) return policy.error();
  Show(inv, *policy, [&] { PrintObject(std::cout, *policy, kPolicyLines); });
  return {};
}

}  // namespace keep::cli
