// storage/sqlite_key_ids.h — schema 4's migration: publisher keys renamed by
// their canonical form. Internal to storage/.
//
// Until schema 3 a key's id was the SHA-256 of the DER it was sent in, so
// one key sent in two encodings (a compressed point, explicit curve
// parameters) was two keys: each of its signatures counted once per id, and
// revoking one id left it trusted under the other. From schema 4 the id is
// that of the key's canonical form (trust/keys.h). Storage cannot parse keys
// (trust/ sits above it), so the caller of OpenSqliteMetadata supplies the
// KeyCanonicalizer that does.
#pragma once

#include "storage/metadata.h"
#include "storage/sql.h"

namespace keep::sql {

// Renames every publisher key whose canonical id or PEM differs from what is
// stored, and its verified signatures with it. Keys of one namespace that
// turn out to be one key become one: the row already under the canonical id
// (or else the first renamed) stays, revoked if any of them was revoked,
// with each signature kept once. Keys `canonical` leaves alone (nullopt:
// OpenPGP keys, or keys that no longer parse) stay as they are.
// Throws DbFailure when there are keys to rename and `canonical` is empty.
// REQUIRES: inside the schema transaction, on a database of schema 3.
void RenameKeysCanonically(Connection& c, const KeyCanonicalizer& canonical);

}  // namespace keep::sql
