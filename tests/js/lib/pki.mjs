// A throwaway PKI made at test time with the `openssl` command: a root CA, an intermediate CA
// it signs, and server certificates the intermediate signs (for IP:127.0.0.1 and localhost),
// each with the dates and serial a test asks for. Clients trust the root only, so a server
// must send the full chain (leaf + intermediate) to be trusted.
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { requireTool } from './harness.mjs';

function openssl(args, { cwd } = {}) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

// openssl ca's date form: YYYYMMDDHHMMSSZ.
function caDate(date) {
  return date.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

const DAY_MS = 86_400_000;

export class Pki {
  // Makes the root and the intermediate CA in `dir` (created if needed).
  constructor(dir) {
    requireTool('openssl');
    this.dir = dir;
    mkdirSync(path.join(dir, 'newcerts'), { recursive: true });
    writeFileSync(path.join(dir, 'index.txt'), '');
    writeFileSync(path.join(dir, 'serial'), '1000\n');
    this.config = path.join(dir, 'ca.cnf');
    writeFileSync(
      this.config,
      `[ca]
default_ca = test_ca
[test_ca]
dir = ${dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[any_name]
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost
`,
    );
    this.rootKey = this.#newKey('root');
    this.rootCert = path.join(dir, 'root.pem');
    openssl(['req', '-x509', '-new', '-key', this.rootKey, '-out', this.rootCert, '-days', '3', '-subj', '/CN=Bouncer Test Root CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    this.rootPem = readFileSync(this.rootCert, 'utf8');

    this.intermediateKey = this.#newKey('intermediate');
    const csr = this.#csr('intermediate', this.intermediateKey, 'Bouncer Test Intermediate CA');
    this.intermediateCert = path.join(dir, 'intermediate.pem');
    this.#sign(csr, this.intermediateCert, { issuerCert: this.rootCert, issuerKey: this.rootKey, extensions: 'ca_ext' });
    this.intermediatePem = readFileSync(this.intermediateCert, 'utf8');
  }

  #newKey(name) {
    const key = path.join(this.dir, `${name}.key`);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    chmodSync(key, 0o600);
    return key;
  }

  #csr(name, key, commonName) {
    const csr = path.join(this.dir, `${name}.csr`);
    openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${commonName}`]);
    return csr;
  }

  #sign(csr, out, { issuerCert, issuerKey, extensions, notBefore, notAfter }) {
    const start = notBefore ?? new Date(Date.now() - DAY_MS);
    const end = notAfter ?? new Date(Date.now() + 2 * DAY_MS);
    openssl(['ca', '-config', this.config, '-batch', '-notext', '-in', csr, '-out', out, '-cert', issuerCert, '-keyfile', issuerKey,
      '-extensions', extensions, '-startdate', caDate(start), '-enddate', caDate(end)]);
  }

  // A server certificate for 127.0.0.1 and localhost, signed by the intermediate. Returns
  // {key, cert (the leaf alone), chain (leaf + intermediate: what a server serves), serial,
  // fingerprint256, spkiSha256 (base64, Chromium's --ignore-certificate-errors-spki-list form)}.
  // `key`: reuse an existing key file; `notBefore`/`notAfter`: Dates (default: yesterday to
  // the day after tomorrow).
  server(name, { key, notBefore, notAfter } = {}) {
    const keyFile = key ?? this.#newKey(name);
    const csr = this.#csr(name, keyFile, `${name}.bouncer.test`);
    const cert = path.join(this.dir, `${name}.crt`);
    this.#sign(csr, cert, { issuerCert: this.intermediateCert, issuerKey: this.intermediateKey, extensions: 'server_ext', notBefore, notAfter });
    const leafPem = readFileSync(cert, 'utf8');
    const chain = path.join(this.dir, `${name}.chain.pem`);
    writeFileSync(chain, leafPem + this.intermediatePem);
    const x509 = new X509Certificate(leafPem);
    const spki = createPublicKey(readFileSync(keyFile)).export({ type: 'spki', format: 'der' });
    return {
      key: keyFile,
      cert,
      chain,
      serial: x509.serialNumber,
      fingerprint256: x509.fingerprint256,
      subject: x509.subject,
      spkiSha256: createHash('sha256').update(spki).digest('base64'),
    };
  }

  // A key that belongs to no certificate here.
  strayKey(name) {
    return this.#newKey(name);
  }
}
