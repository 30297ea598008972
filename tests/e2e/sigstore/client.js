// A cosign v3 client built from sigstore's JavaScript libraries, for the
// e2e_cosign_bundle and e2e_keyless tests: it signs and attaches bundles the
// way cosign v3 does (or attaches one made elsewhere), and verifies bundles
// with sigstore's own verifier.
//
//   node client.js attach HOST:PORT/REPO DIGEST KEY.pem
//       Signs cosign's image-signing statement for DIGEST with KEY.pem in a
//       DSSE envelope, wraps it in a v0.3 sigstore bundle (@sigstore/sign),
//       and attaches it to the image as an OCI 1.1 referrer (@sigstore/oci,
//       the layout of cosign's BUNDLE_SPEC.md). Credentials come from
//       KEEP_USER and KEEP_PASSWORD. The host "keep.test" is looked up as
//       127.0.0.1 (@sigstore/oci speaks plain HTTP to 127.0.0.1 itself);
//       NODE_EXTRA_CA_CERTS names the CA. Prints the referrer's digest.
//   node client.js attach-bundle HOST:PORT/REPO DIGEST BUNDLE.json
//       Attaches a sigstore bundle made elsewhere (the keyless e2e test's
//       private sigstore) to the image as an OCI 1.1 referrer, its bytes
//       unchanged, with the annotations cosign v3 gives it: the content kind
//       (dsse-envelope or message-signature) and, for an envelope, the
//       statement's predicate type. Credentials, host and CA as for attach.
//       Prints the referrer's digest.
//   node client.js verify BUNDLE.json KEY.pub DIGEST
//       Verifies the bundle with @sigstore/verify against KEY.pub alone (no
//       transparency log), then checks that its statement signs DIGEST with
//       cosign's predicate.
//   node client.js verify-keyless BUNDLE.json TRUSTED_ROOT.json ARTIFACT ISSUER SUBJECT
//       Verifies a bundle signed with a Fulcio certificate, offline, against
//       TRUSTED_ROOT.json (sigstore's trusted_root.json) with @sigstore/verify:
//       one transparency-log entry and one SCT at least, no timestamp
//       authority; the certificate's OIDC issuer must be ISSUER and its
//       SubjectAltName exactly SUBJECT. ARTIFACT is a file or sha256:HEX
//       (a message signature needs the file: its signature is over the
//       bytes). The bundle must be for the artifact: a message signature's
//       messageDigest is its digest, a DSSE envelope's in-toto statement
//       names it among its subjects. keepctl_agree_test runs it beside
//       `keepctl verify-bundle`.
// Exits 1 with the error on stderr when anything fails.
'use strict';
const crypto = require('crypto');
const dns = require('dns');
const fs = require('fs');

const SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO = 'application/vnd.in-toto+json';

const realLookup = dns.lookup;
dns.lookup = (hostname, options, callback) =>
  realLookup(hostname === 'keep.test' ? '127.0.0.1' : hostname, options, callback);

async function attach(image, digest, keyFile) {
  const { DSSEBundleBuilder } = require('@sigstore/sign');
  const { bundleToJSON, BUNDLE_V03_MEDIA_TYPE } = require('@sigstore/bundle');
  const { attachArtifactToImage } = require('@sigstore/oci');
  const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
  const pub = crypto.createPublicKey(key);
  const hint = crypto.createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('base64');
  const signer = {
    sign: async (data) => ({
      signature: crypto.sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key),
      key: { $case: 'publicKey', publicKey: pub.export({ type: 'spki', format: 'pem' }), hint },
    }),
  };
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ digest: { sha256: digest.replace(/^sha256:/, '') } }],
    predicateType: SIGN_PREDICATE,
    predicate: {},
  };
  const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
    data: Buffer.from(JSON.stringify(statement)),
    type: IN_TOTO,
  });
  const artifact = await attachArtifactToImage({
    imageName: image,
    imageDigest: digest,
    artifact: Buffer.from(JSON.stringify(bundleToJSON(bundle))),
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': SIGN_PREDICATE,
    },
    credentials: { username: process.env.KEEP_USER, password: process.env.KEEP_PASSWORD },
  });
  console.log(artifact.digest);
}

async function attachBundle(image, digest, bundleFile) {
  const { bundleFromJSON, BUNDLE_V03_MEDIA_TYPE } = require('@sigstore/bundle');
  const { attachArtifactToImage } = require('@sigstore/oci');
  const bytes = fs.readFileSync(bundleFile);
  // sigstore's own parser must accept it before it is sent.
  const bundle = bundleFromJSON(JSON.parse(bytes.toString('utf8')));
  const annotations = { 'dev.sigstore.bundle.content': 'message-signature' };
  if (bundle.content.$case === 'dsseEnvelope') {
    const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8'));
    annotations['dev.sigstore.bundle.content'] = 'dsse-envelope';
    annotations['dev.sigstore.bundle.predicateType'] = statement.predicateType;
  }
  const artifact = await attachArtifactToImage({
    imageName: image,
    imageDigest: digest,
    artifact: bytes,
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    annotations,
    credentials: { username: process.env.KEEP_USER, password: process.env.KEEP_PASSWORD },
  });
  console.log(artifact.digest);
}

// The statement of a DSSE bundle must be cosign's signature of `digest`.
function checkSignStatement(bundle, digest) {
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO) throw new Error(`payload type ${envelope.payloadType}`);
  const statement = JSON.parse(envelope.payload.toString('utf8'));
  if (statement.predicateType !== SIGN_PREDICATE) throw new Error(`predicate ${statement.predicateType}`);
  const hex = digest.replace(/^sha256:/, '');
  if (!statement.subject.some((s) => s.digest && s.digest.sha256 === hex)) {
    throw new Error(`the statement does not sign ${digest}`);
  }
}

function verify(bundleFile, pubFile, digest) {
  const { bundleFromJSON } = require('@sigstore/bundle');
  const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundleFile, 'utf8')));
  const publicKey = crypto.createPublicKey(fs.readFileSync(pubFile));
  const root = { mediaType: '', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
  const trust = toTrustMaterial(root, () => ({ publicKey, validFor: () => true }));
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 }).verify(toSignedEntity(bundle));
  checkSignStatement(bundle, digest);
  console.log('verified');
}

// The artifact named on the command line: its digest (hex), and its bytes
// when it is a file.
function readArtifact(arg) {
  const named = /^sha256:([0-9a-f]{64})$/.exec(arg);
  if (named && !fs.existsSync(arg)) return { hex: named[1], bytes: undefined };
  const bytes = fs.readFileSync(arg);
  return { hex: crypto.createHash('sha256').update(bytes).digest('hex'), bytes };
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function verifyKeyless(bundleFile, rootFile, artifactArg, issuer, subject) {
  const { bundleFromJSON } = require('@sigstore/bundle');
  const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
  // The trust root's protobuf reader, as @sigstore/verify itself loads it.
  const specs = require(require.resolve('@sigstore/protobuf-specs', {
    paths: [require.resolve('@sigstore/verify')],
  }));
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundleFile, 'utf8')));
  const root = specs.TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootFile, 'utf8')));
  const artifact = readArtifact(artifactArg);
  const isMessage = bundle.content.$case === 'messageSignature';
  if (isMessage && artifact.bytes === undefined) {
    throw new Error('a message signature is verified over the artifact itself: give its file');
  }
  const trust = toTrustMaterial(root);
  const verifier = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, tsaThreshold: 0 });
  // The policy's subject is a pattern that @sigstore/verify searches for in
  // the SubjectAltName: anchored and escaped, it asks for SUBJECT exactly.
  const policy = {
    subjectAlternativeName: new RegExp(`^${escapeRegExp(subject)}$`),
    extensions: { issuer },
  };
  verifier.verify(toSignedEntity(bundle, artifact.bytes), policy);
  if (isMessage) {
    const digest = bundle.content.messageSignature.messageDigest;
    if (!digest || digest.digest.toString('hex') !== artifact.hex) {
      throw new Error(`the bundle's messageDigest is not sha256:${artifact.hex}`);
    }
  } else {
    const envelope = bundle.content.dsseEnvelope;
    if (envelope.payloadType !== IN_TOTO) throw new Error(`payload type ${envelope.payloadType}`);
    const statement = JSON.parse(envelope.payload.toString('utf8'));
    if (!(statement.subject || []).some((s) => s.digest && s.digest.sha256 === artifact.hex)) {
      throw new Error(`the statement does not name sha256:${artifact.hex}`);
    }
  }
  console.log('verified');
}

(async () => {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'attach' && args.length === 3) return attach(...args);
  if (command === 'attach-bundle' && args.length === 3) return attachBundle(...args);
  if (command === 'verify' && args.length === 3) return verify(...args);
  if (command === 'verify-keyless' && args.length === 5) return verifyKeyless(...args);
  throw new Error(
    'usage: client.js attach HOST:PORT/REPO DIGEST KEY.pem | attach-bundle HOST:PORT/REPO DIGEST BUNDLE.json' +
      ' | verify BUNDLE.json KEY.pub DIGEST | verify-keyless BUNDLE.json TRUSTED_ROOT.json ARTIFACT ISSUER SUBJECT',
  );
})().catch((err) => {
  let e = err;
  const lines = [];
  while (e) {
    lines.push(e.message || String(e));
    e = e.cause;
  }
  console.error(lines.join(': '));
  process.exit(1);
});
