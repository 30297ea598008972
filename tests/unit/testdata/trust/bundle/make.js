// Makes the sigstore bundles of this folder with sigstore's own JavaScript
// signing library (npm @sigstore/sign 3.x, @sigstore/bundle 3.x), so that
// Keep's bundle reader is checked against bundles it did not write.
//
//   npm install @sigstore/sign@3 @sigstore/bundle@3
//   node make.js <testdata/trust dir> <target digest>
//
// Each key of ../ (ecdsa.key, ed25519.key) signs cosign's image-signing
// statement for the target; one more ECDSA bundle carries an SBOM-type
// statement (an attestation, not a signature).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { DSSEBundleBuilder } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');

const [dir, target] = process.argv.slice(2);
const hex = target.replace(/^sha256:/, '');

function signer(keyFile) {
  const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, keyFile)));
  const pub = crypto.createPublicKey(key);
  const der = pub.export({ type: 'spki', format: 'der' });
  const hint = crypto.createHash('sha256').update(der).digest('base64');
  const ed = key.asymmetricKeyType === 'ed25519';
  return {
    sign: async (data) => ({
      signature: crypto.sign(ed ? null : 'sha256', data, key),
      key: { $case: 'publicKey', publicKey: pub.export({ type: 'spki', format: 'pem' }), hint },
    }),
  };
}

function statement(predicateType) {
  return Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ digest: { sha256: hex } }],
    predicateType,
    predicate: {},
  }));
}

async function write(keyFile, predicateType, out) {
  const builder = new DSSEBundleBuilder({ signer: signer(keyFile), witnesses: [] });
  const bundle = await builder.create({ data: statement(predicateType), type: 'application/vnd.in-toto+json' });
  fs.writeFileSync(path.join(dir, 'bundle', out), JSON.stringify(bundleToJSON(bundle)));
}

(async () => {
  await write('ecdsa.key', 'https://sigstore.dev/cosign/sign/v1', 'ecdsa.sigstore.json');
  await write('ed25519.key', 'https://sigstore.dev/cosign/sign/v1', 'ed25519.sigstore.json');
  await write('ecdsa.key', 'https://cyclonedx.org/bom', 'ecdsa-sbom.sigstore.json');
})();
