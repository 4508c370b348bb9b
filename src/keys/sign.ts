import { KeyObject, sign } from 'node:crypto'
import type { SigningAlg, SigningKey } from './keyring.js'

// Each flow signs an ID token and an access token. jose signs through
// WebCrypto: a threadpool job, a promise and a key-usage check per call, 61 µs
// of CPU per ES256 JWT against 30 µs with node:crypto here (bench/README.md,
// "Profile findings"). The output is the same compact JWS jose writes.

/** node:crypto's digest for each JWS algorithm; EdDSA takes none. */
const DIGEST: Record<SigningAlg, string | null> = { ES256: 'sha256', RS256: 'sha256', EdDSA: null }
const keyObjects = new WeakMap<SigningKey, KeyObject>()

function keyObject (signer: SigningKey): KeyObject {
  let key = keyObjects.get(signer)
  if (key === undefined) {
    key = KeyObject.from(signer.key)
    keyObjects.set(signer, key)
  }
  return key
}

/** Signs `payload` as a compact JWS (a JWT when `header.typ` says so) with the signer's key and algorithm. */
export async function signCompact (signer: SigningKey, header: Record<string, unknown>, payload: object): Promise<string> {
  const input = `${base64url({ alg: signer.alg, kid: signer.kid, ...header })}.${base64url(payload)}`
  const data = Buffer.from(input)
  const key = keyObject(signer)
  // ES256 and EdDSA take about 30 µs: done in line. An RSA-2048 signature takes
  // about a millisecond, which would stall every other request: the threadpool does it.
  const signature = signer.alg === 'RS256'
    ? await new Promise<Buffer>((resolve, reject) => sign(DIGEST.RS256, data, key, (err, sig) => (err ? reject(err) : resolve(sig))))
    : sign(DIGEST[signer.alg], data, { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}
