// ES256 client tokens for the HAProxy peer (bench/peers/haproxy/README.md), with node:crypto only.
//   node make-tokens.mjs keys DIR
//       writes DIR/es256-private.pem and DIR/es256-public.pem (the SPKI public key HAProxy reads)
//   node make-tokens.mjs tokens --key DIR/es256-private.pem --count N --out FILE
//                        --issuer I --model M --origin O [--expires-in 3600]
//       N tokens, one a line, each with a jti of its own: {iss, sub, jti, iat, exp, model, origin}
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [command, ...rest] = process.argv.slice(2);
if (command === 'keys') {
  const dir = rest[0];
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'es256-private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'es256-public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
} else if (command === 'tokens') {
  const o = { expiresIn: '3600' };
  for (let i = 0; i < rest.length; i += 2) o[rest[i].replace(/^--/, '').replace(/-(.)/g, (_, c) => c.toUpperCase())] = rest[i + 1];
  for (const k of ['key', 'count', 'out', 'issuer', 'model', 'origin']) if (!o[k]) throw new Error(`--${k} is required`);
  const key = createPrivateKey(readFileSync(o.key));
  const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
  const header = b64({ alg: 'ES256', typ: 'JWT' });
  const iat = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let i = 0; i < Number(o.count); i++) {
    const payload = b64({ iss: o.issuer, sub: 'key_bench', jti: randomBytes(16).toString('base64url'), iat, exp: iat + Number(o.expiresIn), model: o.model, origin: o.origin });
    const input = `${header}.${payload}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    lines.push(`${input}.${signature}`);
  }
  writeFileSync(o.out, lines.join('\n') + '\n');
} else {
  console.error('usage: make-tokens.mjs keys DIR | tokens --key PEM --count N --out FILE --issuer I --model M --origin O');
  process.exit(2);
}
