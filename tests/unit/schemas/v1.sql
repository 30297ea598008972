-- A metadata database as schema 1 made it: the tables of kSchema in
-- storage/sqlite_metadata.cc at commit 78b2d87 ("keepd: OCI Distribution API
-- over TLS on filesystem blobs and SQLite metadata"), unchanged until schema
-- 2 (commit faa156a). Then content as that version stored it: a manifest's
-- own bytes are a blob link of its repository, its config and layers are
-- manifest_refs of kind 0, a tag points at a manifest of its repository.
-- tests/unit/schema_upgrade_test.cc opens it with the current code.
CREATE TABLE IF NOT EXISTS repositories(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS repo_blobs(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifests(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  artifact_type TEXT NOT NULL,
  subject TEXT,
  annotations TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests(repo_id, subject)
  WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS manifest_refs(
  repo_id INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  target TEXT NOT NULL,
  kind INTEGER NOT NULL, -- 0: blob, 1: child manifest
  PRIMARY KEY(repo_id, manifest, kind, target),
  FOREIGN KEY(repo_id, manifest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags(
  repo_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, name),
  FOREIGN KEY(repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads(
  id TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  admin INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL);
PRAGMA user_version=1;

-- Content. Passwords (Argon2id, libsodium's encoded form): admin's is
-- "admin-before-upgrade", alice's "alice-before-upgrade". Schema 1 had no
-- roles: every signed-in user could push and pull every repository.
INSERT INTO users(id, name, password_hash, admin, disabled, created_at) VALUES
  (1, 'admin', '$argon2id$v=19$m=65536,t=2,p=1$T+mvoPmRcsDYTfn1HHmqUg$8ClTdNzDSEi3eBDTZ8Htms9XrP6MoJMe74KRV05aiTo', 1, 0, 1700000000),
  (2, 'alice', '$argon2id$v=19$m=65536,t=2,p=1$CAFWn8w88r11D+BxZwywDw$Ul82ePISiyu1TT6XioAGQchfdQlN9o3DEIonyx24q5A', 0, 0, 1700000100);

INSERT INTO repositories(id, name, created_at) VALUES
  (1, 'acme/app', 1700000200),
  (2, 'library/base', 1700000300);

-- acme/app: an image tagged v1 and latest, and an older untagged one.
INSERT INTO repo_blobs(repo_id, digest, size, created_at) VALUES
  (1, 'sha256:eae956f105db8749c72a918f32a41f55dd779c9a6256a73300953935129b8d0c', 1469, 1700000200),
  (1, 'sha256:ff6bec04c07e20b560b414663f7c5e0e09f69365d73672f98217f501a53dc855', 3623807, 1700000200),
  (1, 'sha256:fb52cbc8d3dbf518992128cf522607621555ae9c83dcd6604a6d8a2fdcf00dfe', 528, 1700000201),
  (1, 'sha256:8561cf31700b583993b67d48a461794a29c6d53855411db5d6247d31b5ac4989', 528, 1700000150),
  (2, 'sha256:ff6bec04c07e20b560b414663f7c5e0e09f69365d73672f98217f501a53dc855', 3623807, 1700000300),
  (2, 'sha256:c0ff69a4ced6e306c2dc77aa2bbd045de29a0fa91e9359c35dbccd3aa8c52002', 400, 1700000301);
INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, annotations, created_at) VALUES
  (1, 'sha256:fb52cbc8d3dbf518992128cf522607621555ae9c83dcd6604a6d8a2fdcf00dfe',
   'application/vnd.oci.image.manifest.v1+json', 528, '', NULL, '{"org.opencontainers.image.version":"1.0"}', 1700000201),
  (1, 'sha256:8561cf31700b583993b67d48a461794a29c6d53855411db5d6247d31b5ac4989',
   'application/vnd.oci.image.manifest.v1+json', 528, '', NULL, '{}', 1700000150),
  (2, 'sha256:c0ff69a4ced6e306c2dc77aa2bbd045de29a0fa91e9359c35dbccd3aa8c52002',
   'application/vnd.docker.distribution.manifest.v2+json', 400, '', NULL, '{}', 1700000301);
INSERT INTO manifest_refs(repo_id, manifest, target, kind) VALUES
  (1, 'sha256:fb52cbc8d3dbf518992128cf522607621555ae9c83dcd6604a6d8a2fdcf00dfe', 'sha256:eae956f105db8749c72a918f32a41f55dd779c9a6256a73300953935129b8d0c', 0),
  (1, 'sha256:fb52cbc8d3dbf518992128cf522607621555ae9c83dcd6604a6d8a2fdcf00dfe', 'sha256:ff6bec04c07e20b560b414663f7c5e0e09f69365d73672f98217f501a53dc855', 0),
  (1, 'sha256:8561cf31700b583993b67d48a461794a29c6d53855411db5d6247d31b5ac4989', 'sha256:eae956f105db8749c72a918f32a41f55dd779c9a6256a73300953935129b8d0c', 0),
  (2, 'sha256:c0ff69a4ced6e306c2dc77aa2bbd045de29a0fa91e9359c35dbccd3aa8c52002', 'sha256:ff6bec04c07e20b560b414663f7c5e0e09f69365d73672f98217f501a53dc855', 0);
INSERT INTO tags(repo_id, name, digest, updated_at) VALUES
  (1, 'v1', 'sha256:fb52cbc8d3dbf518992128cf522607621555ae9c83dcd6604a6d8a2fdcf00dfe', 1700000201),
  (1, 'latest', 'sha256:fb52cbc8d3dbf518992128cf522607621555ae9c83dcd6604a6d8a2fdcf00dfe', 1700000201),
  (2, '12', 'sha256:c0ff69a4ced6e306c2dc77aa2bbd045de29a0fa91e9359c35dbccd3aa8c52002', 1700000301);
-- An upload session left open.
INSERT INTO uploads(id, repo, created_at) VALUES
  ('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'acme/app', 1700000400);
