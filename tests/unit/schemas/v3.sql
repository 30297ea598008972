-- A metadata database as schema 3 made it: kSchema of storage/sqlite_metadata.cc,
-- kTables of storage/sqlite_accounts.cc and storage/sqlite_trust.cc and kIndexes
-- of storage/sqlite_gc.cc at commit a9a206a ("A revoked key's signature
-- referrers and attestations are withdrawn from readers with what it
-- signed"), in the order keepd ran them. Schema 3 began at commit 0b02700
-- without stored_signatures and the repo_blobs_by_digest index (added by
-- 969b7e6 and aa77e56, as CREATE ... IF NOT EXISTS); from commit e0b27b3 it
-- also had the signatures_follow_artifacts trigger. This is the form between:
-- no trigger, so a deleted signature manifest could leave its records behind.
-- A key's id was the SHA-256 of its DER as sent (a compressed or explicit-
-- parameter P-256 key kept that encoding); an OpenPGP key's its fingerprint.
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
  created_by TEXT NOT NULL,
  mode TEXT NOT NULL DEFAULT 'quarantine',
  threshold INTEGER NOT NULL DEFAULT 1,
  quarantine_ttl INTEGER NOT NULL DEFAULT 86400);
CREATE TABLE IF NOT EXISTS members(
  namespace_id INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  PRIMARY KEY(namespace_id, user_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members(user_id);
CREATE TABLE IF NOT EXISTS publisher_keys(
  namespace TEXT NOT NULL,
  key_id TEXT NOT NULL,
  name TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  pem TEXT NOT NULL,
  added_by TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(namespace, key_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signatures(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  target TEXT NOT NULL,
  key_id TEXT NOT NULL,
  format TEXT NOT NULL,
  signature TEXT NOT NULL,
  verified_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, target, key_id, signature)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stored_signatures(
  repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  target TEXT NOT NULL,
  name TEXT NOT NULL,
  content TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(repo_id, target, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repo_blobs_by_digest ON repo_blobs(digest);
PRAGMA user_version=3;

-- Content. Passwords (Argon2id, libsodium's encoded form): "<name>-before-upgrade".
INSERT INTO users(id, name, password_hash, admin, disabled, created_at, robot, expires_at, created_by) VALUES
  (1, 'admin', '$argon2id$v=19$m=65536,t=2,p=1$T+mvoPmRcsDYTfn1HHmqUg$8ClTdNzDSEi3eBDTZ8Htms9XrP6MoJMe74KRV05aiTo', 1, 0, 1700000000, 0, 0, ''),
  (2, 'alice', '$argon2id$v=19$m=65536,t=2,p=1$CAFWn8w88r11D+BxZwywDw$Ul82ePISiyu1TT6XioAGQchfdQlN9o3DEIonyx24q5A', 0, 0, 1700000100, 0, 0, 'admin');
-- acme: quarantine (the default); beta: strict, two signers; scratch: open.
INSERT INTO namespaces(id, name, anonymous_pull, created_at, created_by, mode, threshold, quarantine_ttl) VALUES
  (1, 'acme', 0, 1700000130, 'admin', 'quarantine', 1, 86400),
  (2, 'beta', 0, 1700000140, 'admin', 'strict', 2, 604800),
  (3, 'scratch', 0, 1700000150, 'admin', 'open', 1, 86400);
INSERT INTO members(namespace_id, user_id, role) VALUES (1, 2, 'reader'), (2, 2, 'reader'), (3, 2, 'reader');

-- Publisher keys, from tests/unit/testdata/trust: ecdsa.pub sent compressed
-- to acme and with explicit curve parameters to beta (openssl ec -conv_form
-- compressed / -param_enc explicit), each named by that DER's SHA-256;
-- ed25519.pub (canonical already) to both; openpgp/ed25519.pub.asc to acme.
INSERT INTO publisher_keys(namespace, key_id, name, algorithm, pem, added_by, added_at, revoked) VALUES
  ('acme', '52049a0ff57485e04be1d0020ec91e98c75e2f37f35065472ab2e5283507cd16', 'ci', 'ecdsa-p256',
   '-----BEGIN PUBLIC KEY-----
MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgADjZWW1SmAbQqgxtvjAPoufvJgDYHX
HdIqQa5kVOIFIVE=
-----END PUBLIC KEY-----
', 'admin', 1700001000, 0),
  ('acme', 'abe3414936b9bf0819676a340780860779c0f19332c4bf4ba0aa861268249133', 'release', 'ed25519',
   '-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAZ1vEFcWNgTwmeTWoe/RgXHYlFjrIuK9Ag+c+p9qRWV0=
-----END PUBLIC KEY-----
', 'admin', 1700001100, 0),
  ('acme', '05AEFE0E87DB63C26BD15AF509F6CDBC5DEB27FC', 'gpg', 'openpgp-ed25519',
   '-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEawbZUxYJKwYBBAHaRw8BAQdAIqnjwC/xpszreRNrToMW7Hv3avndKbAx7r5A
L6/TbIa0KEtlZXAgVGVzdCBFZDI1NTE5IDxlZDI1NTE5QGtlZXAuaW52YWxpZD6I
kAQTFggAOBYhBAWu/g6H22PCa9Fa9Qn2zbxd6yf8BQJrBtlTAhsDBQsJCAcCBhUK
CQgLAgQWAgMBAh4BAheAAAoJEAn2zbxd6yf8SNkBAJl/izSctfIXv8O5Abn2FV03
l3KlzTrgEPUxMplOO9ZCAQDB/s08nOIXy8a9V8t1A4hwwrvlkIZpX9Vr/L2xFbc6
Dg==
=BQba
-----END PGP PUBLIC KEY BLOCK-----
', 'admin', 1700001200, 0),
  ('beta', '451260d7a978f3e6bd60f1605d0ff061674f198ef7643ecc2ac99dad3c5f8d85', 'one', 'ecdsa-p256',
   '-----BEGIN PUBLIC KEY-----
MIIBSzCCAQMGByqGSM49AgEwgfcCAQEwLAYHKoZIzj0BAQIhAP////8AAAABAAAA
AAAAAAAAAAAA////////////////MFsEIP////8AAAABAAAAAAAAAAAAAAAA////
///////////8BCBaxjXYqjqT57PrvVV2mIa8ZR0GsMxTsPY7zjw+J9JgSwMVAMSd
NgiG5wSTamZ44ROdJreBn36QBEEEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5
RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9QIhAP////8AAAAA
//////////+85vqtpxeehPO5ysL8YyVRAgEBA0IABI2VltUpgG0KoMbb4wD6Ln7y
YA2B1x3SKkGuZFTiBSFRC8Xe52npA0Oo+ucKE5PZGpchgla4/GVg9zFmpqW7Ju8=
-----END PUBLIC KEY-----
', 'admin', 1700001300, 0),
  ('beta', 'abe3414936b9bf0819676a340780860779c0f19332c4bf4ba0aa861268249133', 'two', 'ed25519',
   '-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAZ1vEFcWNgTwmeTWoe/RgXHYlFjrIuK9Ag+c+p9qRWV0=
-----END PUBLIC KEY-----
', 'admin', 1700001400, 0);

INSERT INTO repositories(id, name, created_at) VALUES
  (1, 'acme/app', 1700000200),
  (2, 'beta/app', 1700000300),
  (3, 'scratch/tmp', 1700000400);
-- acme/app: an image tagged v3 with its cosign signature manifest (tagged
-- sha256-<hex>.sig) made by key ci; an unsigned image tagged unsigned, with
-- a record its deleted signature manifest left; an image tagged gpg, signed
-- through the extension API with the OpenPGP key.
-- beta/app: an image tagged release, one signature manifest holding a
-- signature of each beta key. scratch/tmp: an unsigned image tagged dev.
INSERT INTO repo_blobs(repo_id, digest, size, created_at) VALUES
  (1, 'sha256:caef1eea396906af7edefe1ae834da0f5e736ade79d77195dfcc4c8750850291', 1469, 1700002000),
  (1, 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 3623807, 1700002000),
  (1, 'sha256:ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef', 528, 1700002001),
  (1, 'sha256:305d430edb2f360b9936feaf2345c2b8c01fdf6dedf5f6c2fda8d009c078f22e', 700, 1700002002),
  (1, 'sha256:4372a52f3125d74307b834101ac8c721ec499647f2e6e962aa7e376a8f7c7b19', 530, 1700002003),
  (1, 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f', 529, 1700002004),
  (2, 'sha256:caef1eea396906af7edefe1ae834da0f5e736ade79d77195dfcc4c8750850291', 1469, 1700002100),
  (2, 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 3623807, 1700002100),
  (2, 'sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a', 531, 1700002101),
  (2, 'sha256:c1ce41ef9762daf188a718a4dbb1ae7625000b5d1a2162da7144076259420ed1', 900, 1700002102),
  (3, 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 3623807, 1700002200),
  (3, 'sha256:c5d9d44e32311d39a6061e0ac2f0498161ca56d8c90f6c5a47c75bf67398e465', 400, 1700002201);
INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, annotations, created_at) VALUES
  (1, 'sha256:ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef', 'application/vnd.oci.image.manifest.v1+json', 528, '', NULL, '{}', 1700002001),
  (1, 'sha256:305d430edb2f360b9936feaf2345c2b8c01fdf6dedf5f6c2fda8d009c078f22e', 'application/vnd.oci.image.manifest.v1+json', 700, '', NULL, '{}', 1700002002),
  (1, 'sha256:4372a52f3125d74307b834101ac8c721ec499647f2e6e962aa7e376a8f7c7b19', 'application/vnd.oci.image.manifest.v1+json', 530, '', NULL, '{}', 1700002003),
  (1, 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f', 'application/vnd.oci.image.manifest.v1+json', 529, '', NULL, '{}', 1700002004),
  (2, 'sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a', 'application/vnd.oci.image.manifest.v1+json', 531, '', NULL, '{}', 1700002101),
  (2, 'sha256:c1ce41ef9762daf188a718a4dbb1ae7625000b5d1a2162da7144076259420ed1', 'application/vnd.oci.image.manifest.v1+json', 900, '', NULL, '{}', 1700002102),
  (3, 'sha256:c5d9d44e32311d39a6061e0ac2f0498161ca56d8c90f6c5a47c75bf67398e465', 'application/vnd.oci.image.manifest.v1+json', 400, '', NULL, '{}', 1700002201);
INSERT INTO manifest_refs(repo_id, manifest, target, kind) VALUES
  (1, 'sha256:ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef', 'sha256:caef1eea396906af7edefe1ae834da0f5e736ade79d77195dfcc4c8750850291', 0), (1, 'sha256:ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef', 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 0),
  (1, 'sha256:4372a52f3125d74307b834101ac8c721ec499647f2e6e962aa7e376a8f7c7b19', 'sha256:caef1eea396906af7edefe1ae834da0f5e736ade79d77195dfcc4c8750850291', 0), (1, 'sha256:4372a52f3125d74307b834101ac8c721ec499647f2e6e962aa7e376a8f7c7b19', 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 0),
  (1, 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f', 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 0),
  (2, 'sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a', 'sha256:caef1eea396906af7edefe1ae834da0f5e736ade79d77195dfcc4c8750850291', 0), (2, 'sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a', 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 0),
  (3, 'sha256:c5d9d44e32311d39a6061e0ac2f0498161ca56d8c90f6c5a47c75bf67398e465', 'sha256:e98393e97d2a36c7a776784156a5874c463ffd600207e1676eaba5a1c53a710c', 0);
INSERT INTO tags(repo_id, name, digest, updated_at) VALUES
  (1, 'v3', 'sha256:ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef', 1700002001),
  (1, 'sha256-ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef.sig', 'sha256:305d430edb2f360b9936feaf2345c2b8c01fdf6dedf5f6c2fda8d009c078f22e', 1700002002),
  (1, 'unsigned', 'sha256:4372a52f3125d74307b834101ac8c721ec499647f2e6e962aa7e376a8f7c7b19', 1700002003),
  (1, 'gpg', 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f', 1700002004),
  (2, 'release', 'sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a', 1700002101),
  (2, 'sha256-1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a.sig', 'sha256:c1ce41ef9762daf188a718a4dbb1ae7625000b5d1a2162da7144076259420ed1', 1700002102),
  (3, 'dev', 'sha256:c5d9d44e32311d39a6061e0ac2f0498161ca56d8c90f6c5a47c75bf67398e465', 1700002201);
INSERT INTO signatures(repo_id, target, key_id, format, signature, verified_at) VALUES
  (1, 'sha256:ea83f72f146711c352a6e10720b1460eaa4609781b09697744ea630104535eef', '52049a0ff57485e04be1d0020ec91e98c75e2f37f35065472ab2e5283507cd16', 'cosign', 'sha256:305d430edb2f360b9936feaf2345c2b8c01fdf6dedf5f6c2fda8d009c078f22e', 1700002002),
  (1, 'sha256:4372a52f3125d74307b834101ac8c721ec499647f2e6e962aa7e376a8f7c7b19', '52049a0ff57485e04be1d0020ec91e98c75e2f37f35065472ab2e5283507cd16', 'cosign', 'sha256:5033e70a158dd92056cc55a82832f8508f01c12ae2b89fa06ceb2e4b628ae347', 1700002005),
  (1, 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f', '05AEFE0E87DB63C26BD15AF509F6CDBC5DEB27FC', 'gpg', 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f@0123456789abcdef0123456789abcdef', 1700002006),
  (2, 'sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a', '451260d7a978f3e6bd60f1605d0ff061674f198ef7643ecc2ac99dad3c5f8d85', 'cosign', 'sha256:c1ce41ef9762daf188a718a4dbb1ae7625000b5d1a2162da7144076259420ed1', 1700002102),
  (2, 'sha256:1e3d709f99412328d65892b6973f3dd08a61ec61b6d39bd2e3912cc2b2b2a63a', 'abe3414936b9bf0819676a340780860779c0f19332c4bf4ba0aa861268249133', 'cosign', 'sha256:c1ce41ef9762daf188a718a4dbb1ae7625000b5d1a2162da7144076259420ed1', 1700002102);
-- The extension-API signature as stored (its content: base64 of the signed
-- message, shortened here; the record above is what verification left).
INSERT INTO stored_signatures(repo_id, target, name, content, created_at) VALUES
  (1, 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f', 'sha256:35c5252eb8d4dafc67f72048aabadee44d5e3abd3b92b68a088aff006598864f@0123456789abcdef0123456789abcdef', 'owGbwMvMwMEYMUxRZ1ZcVGJqTqUQ', 1700002006);
