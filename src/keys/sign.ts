import { KeyObject, sign } from 'node:crypto'
import type { SigningAlg, SigningKey } from './keyring.js'

// Each SSO flow signs an ID token and an access token. jose signs through
// WebCrypto: a threadpool job, a promise and a key-usage check per call, 61 µs
// of CPU per ES256 JWT against 30 µs with node:crypto here (bench/README.md,
// "Profile findings"). The output is the same compact JWS jose writes.

/** node:crypto's digest for each JWS algorithm; EdDSA takes none. */
const DIGEST: Record<SigningAlg, string | null> = { ES256: 'sha256', RS256: 'sha256', EdDSA: null }

/** What signing with one key needs, made once: its KeyObject and its encoded headers by `typ`. */
interface Prepared { key: KeyObject, headers: Map<string, string> }
const prepared = new WeakMap<SigningKey, Prepared>()

function prepare (signer: SigningKey): Prepared {
  let entry = prepared.get(signer)
  if (entry === undefined) {
    entry = { key: KeyObject.from(signer.key), headers: new Map() }
    prepared.set(signer, entry)
  }
  return entry
}

/** Signs `payload` as a JWT of type `typ` (`JWT`, `at+jwt`) with the signer's key, algorithm and kid. */
export async function signJwt (signer: SigningKey, typ: string, payload: object): Promise<string> {
  const { key, headers } = prepare(signer)
  let header = headers.get(typ)
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ })).toString('base64url')
    headers.set(typ, header)
  }
  const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const data = Buffer.from(input)
  // ES256 and EdDSA take about 30 µs: done in line. An RSA-2048 signature takes
  // about a millisecond, which would stall every other request: the threadpool does it.
  const signature = signer.alg === 'RS256'
    ? await new Promise<Buffer>((resolve, reject) => sign(DIGEST.RS256, data, key, (err, sig) => (err ? reject(err) : resolve(sig))))
    : sign(DIGEST[signer.alg], data, { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}
