-- A metadata database as schema 2 made it: kSchema of storage/sqlite_metadata.cc
-- and kTables of storage/sqlite_accounts.cc at commit faa156a ("Namespace
-- roles, robot accounts and the admin API under /admin/v1/"), in the order
-- keepd ran them, unchanged until schema 3 (commit 0b02700). Schema 2 had
-- namespaces, members and robot accounts but no trust policy: whoever could
-- pull a repository got every manifest in it.
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
  created_at INTEGER NOT NULL,
  robot INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS robot_scopes(
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  namespace TEXT NOT NULL,
  actions TEXT NOT NULL, -- comma-separated: pull,push,delete
  PRIMARY KEY(user_id, namespace)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  anonymous_pull INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members(
  namespace_id INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  PRIMARY KEY(namespace_id, user_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members(user_id);
PRAGMA user_version=2;

-- Content. Passwords (Argon2id, libsodium's encoded form): "<name>-before-upgrade"
-- for admin, alice and bob; the robot's secret is "robot-before-upgrade".
INSERT INTO users(id, name, password_hash, admin, disabled, created_at, robot, expires_at, created_by) VALUES
  (1, 'admin', '$argon2id$v=19$m=65536,t=2,p=1$T+mvoPmRcsDYTfn1HHmqUg$8ClTdNzDSEi3eBDTZ8Htms9XrP6MoJMe74KRV05aiTo', 1, 0, 1700000000, 0, 0, ''),
  (2, 'alice', '$argon2id$v=19$m=65536,t=2,p=1$CAFWn8w88r11D+BxZwywDw$Ul82ePISiyu1TT6XioAGQchfdQlN9o3DEIonyx24q5A', 0, 0, 1700000100, 0, 0, 'admin'),
  (3, 'bob', '$argon2id$v=19$m=65536,t=2,p=1$PkrD+yt8PewfEkm1x7+Z2w$9GWaMvnxhiqYO7p6JIW9WOSEjSHFLZ6NdaDdpFaGrzY', 0, 0, 1700000110, 0, 0, 'admin'),
  (4, 'robot+ci', '$argon2id$v=19$m=65536,t=2,p=1$//01Hj27XC5xvxW6YJt4MA$P6crFoQkJxKiK/JjNU+3geyJrZh21jw0gIitA6YQHL0', 0, 0, 1700000120, 1, 0, 'admin');
INSERT INTO robot_scopes(user_id, namespace, actions) VALUES (4, 'acme', 'pull,push');
-- acme: alice reads, bob publishes. pub: anyone may pull.
INSERT INTO namespaces(id, name, anonymous_pull, created_at, created_by) VALUES
  (1, 'acme', 0, 1700000130, 'admin'),
  (2, 'pub', 1, 1700000140, 'admin');
INSERT INTO members(namespace_id, user_id, role) VALUES (1, 2, 'reader'), (1, 3, 'publisher');

-- acme/app: an image tagged v2 and an index over it tagged multi. pub/tool:
-- one image. scratch/x: pushed by an admin into a namespace never created.
INSERT INTO repositories(id, name, created_at) VALUES
  (1, 'acme/app', 1700000200),
  (2, 'pub/tool', 1700000300),
  (3, 'scratch/x', 1700000350);
INSERT INTO repo_blobs(repo_id, digest, size, created_at) VALUES
  (1, 'sha256:3100a314712cec8be3f9c770d4ee409d3194fa68df541aef2724ce38a9b4ce7c', 1469, 1700000200),
  (1, 'sha256:d59a16b8ed1e2e555165752c3f04c8dfb0628fbb4ccfed44c38d87bfe72bb89a', 3623807, 1700000200),
  (1, 'sha256:0ea89843fc1832805c68488ea44da59494f8ebafe1f99d6cd0eb5efb0f203b4a', 528, 1700000201),
  (1, 'sha256:8c5d41805a663fb769191f44e5637f575b791276b5fd18e6dfc1c7eb1e7f44aa', 312, 1700000202),
  (2, 'sha256:d59a16b8ed1e2e555165752c3f04c8dfb0628fbb4ccfed44c38d87bfe72bb89a', 3623807, 1700000300),
  (2, 'sha256:aa0e91b3e590d82500edd182a022143cf5ab7d15653e35bdf6f8a7864cdcfb7f', 401, 1700000301),
  (3, 'sha256:00e74197106b3f9197462a579544a7b2142d4444777098d39456ba9574620f11', 350, 1700000351);
INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, annotations, created_at) VALUES
  (1, 'sha256:0ea89843fc1832805c68488ea44da59494f8ebafe1f99d6cd0eb5efb0f203b4a',
   'application/vnd.oci.image.manifest.v1+json', 528, '', NULL, '{}', 1700000201),
  (1, 'sha256:8c5d41805a663fb769191f44e5637f575b791276b5fd18e6dfc1c7eb1e7f44aa',
   'application/vnd.oci.image.index.v1+json', 312, '', NULL, '{}', 1700000202),
  (2, 'sha256:aa0e91b3e590d82500edd182a022143cf5ab7d15653e35bdf6f8a7864cdcfb7f',
   'application/vnd.docker.distribution.manifest.v2+json', 401, '', NULL, '{}', 1700000301),
  (3, 'sha256:00e74197106b3f9197462a579544a7b2142d4444777098d39456ba9574620f11',
   'application/vnd.oci.image.manifest.v1+json', 350, '', NULL, '{}', 1700000351);
INSERT INTO manifest_refs(repo_id, manifest, target, kind) VALUES
  (1, 'sha256:0ea89843fc1832805c68488ea44da59494f8ebafe1f99d6cd0eb5efb0f203b4a', 'sha256:3100a314712cec8be3f9c770d4ee409d3194fa68df541aef2724ce38a9b4ce7c', 0),
  (1, 'sha256:0ea89843fc1832805c68488ea44da59494f8ebafe1f99d6cd0eb5efb0f203b4a', 'sha256:d59a16b8ed1e2e555165752c3f04c8dfb0628fbb4ccfed44c38d87bfe72bb89a', 0),
  (1, 'sha256:8c5d41805a663fb769191f44e5637f575b791276b5fd18e6dfc1c7eb1e7f44aa', 'sha256:0ea89843fc1832805c68488ea44da59494f8ebafe1f99d6cd0eb5efb0f203b4a', 1),
  (2, 'sha256:aa0e91b3e590d82500edd182a022143cf5ab7d15653e35bdf6f8a7864cdcfb7f', 'sha256:d59a16b8ed1e2e555165752c3f04c8dfb0628fbb4ccfed44c38d87bfe72bb89a', 0);
INSERT INTO tags(repo_id, name, digest, updated_at) VALUES
  (1, 'v2', 'sha256:0ea89843fc1832805c68488ea44da59494f8ebafe1f99d6cd0eb5efb0f203b4a', 1700000201),
  (1, 'multi', 'sha256:8c5d41805a663fb769191f44e5637f575b791276b5fd18e6dfc1c7eb1e7f44aa', 1700000202),
  (2, 'stable', 'sha256:aa0e91b3e590d82500edd182a022143cf5ab7d15653e35bdf6f8a7864cdcfb7f', 1700000301),
  (3, 'wip', 'sha256:00e74197106b3f9197462a579544a7b2142d4444777098d39456ba9574620f11', 1700000351);
