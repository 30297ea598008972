#include "storage/sqlite_key_ids.h"

#include <vector>

namespace keep::sql {
namespace {

struct Rename {
  std::string ns;
  std::string old_id;
  bool revoked = false;
  CanonicalKeyForm canonical;
};

}  // namespace

void RenameKeysCanonically(Connection& c, const KeyCanonicalizer& canonical) {
  std::vector<Rename> renames;
  {
    auto s = c.Prepare(
        "SELECT namespace, key_id, algorithm, pem, revoked FROM publisher_keys "
        "ORDER BY added_at, namespace, key_id");
    while (s.Step()) {
      if (!canonical) {
        throw DbFailure(
            "the metadata database (schema 3) holds publisher keys named by the encoding they "
            "were sent in; start keepd on it once to rename them by their canonical form");
      }
      auto form = canonical(s.Text(2), s.Text(3));
      if (!form || (form->key_id == s.Text(1) && form->pem == s.Text(3))) continue;
      renames.push_back(Rename{s.Text(0), s.Text(1), s.Int(4) != 0, std::move(*form)});
    }
  }
  for (const Rename& r : renames) {
    if (r.canonical.key_id == r.old_id) {  // only the stored PEM was not canonical
      auto s = c.Prepare("UPDATE publisher_keys SET pem=?3 WHERE namespace=?1 AND key_id=?2");
      s.Bind(1, r.ns).Bind(2, r.old_id).Bind(3, r.canonical.pem).Run();
      continue;
    }
    bool merged = false;
    {
      // The key is there already under its canonical id: it stays, and is
      // revoked if this alias was (revoking any name of a key revoked the key).
      auto s = c.Prepare(
          "UPDATE publisher_keys SET revoked=max(revoked, ?3), pem=?4 "
          "WHERE namespace=?1 AND key_id=?2");
      s.Bind(1, r.ns).Bind(2, r.canonical.key_id).Bind(3, std::int64_t{r.revoked});
      s.Bind(4, r.canonical.pem).Run();
      merged = c.Changes() > 0;
    }
    if (merged) {
      auto s = c.Prepare("DELETE FROM publisher_keys WHERE namespace=?1 AND key_id=?2");
      s.Bind(1, r.ns).Bind(2, r.old_id).Run();
    } else {
      auto s = c.Prepare(
          "UPDATE publisher_keys SET key_id=?3, pem=?4 WHERE namespace=?1 AND key_id=?2");
      s.Bind(1, r.ns).Bind(2, r.old_id).Bind(3, r.canonical.key_id).Bind(4, r.canonical.pem);
      s.Run();
    }
    // An id is a hash of the key's bytes, so a signature recorded under the
    // old id, in any repository, was made by this key. Where the key had
    // signed the same thing under both names, one record stays.
    {
      auto s = c.Prepare("UPDATE OR IGNORE signatures SET key_id=?2 WHERE key_id=?1");
      s.Bind(1, r.old_id).Bind(2, r.canonical.key_id).Run();
    }
    auto s = c.Prepare("DELETE FROM signatures WHERE key_id=?1");
    s.Bind(1, r.old_id).Run();
  }
}

}  // namespace keep::sql
