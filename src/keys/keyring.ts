import { readFile } from 'node:fs/promises'
import { CompactSign, compactVerify, importJWK, type CryptoKey, type JWK } from 'jose'
import { UnderstudyError } from '../errors.js'

export type SigningAlg = 'ES256' | 'RS256' | 'EdDSA'
export const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'RS256', 'EdDSA']

/** One problem with the key files (US_ERR_KEYS_INVALID `details.problems`): which set it is in, and what is wrong, naming the file. */
export interface KeyProblem { keys: 'signing' | 'sealing', message: string }

/** A private signing key ready for jose, with the identity it is published under. */
export interface SigningKey { kid: string, alg: SigningAlg, key: CryptoKey, publicKey: CryptoKey }

/** A symmetric sealing key (256-bit, A256GCM with `dir`), with how many tokens this process has sealed under it. */
export interface SealingKey { readonly kid: string, readonly key: Uint8Array, seals: number }

/** The keys of one gateway: signing keys per algorithm, published JWKS, sealing keys. */
export interface Keyring {
  /** The key that signs for `alg`: the first key of that algorithm in the file. */
  signer (alg: SigningAlg): SigningKey | undefined
  /** Every signing key's public part, as served at `/jwks`. */
  readonly publicJwks: { keys: JWK[] }
  /** Public verification keys by kid (for our own access tokens and id_token_hint). */
  verifier (kid: string): SigningKey | undefined
  /** The key that seals; the first in the sealing file. */
  readonly sealer: SealingKey
  /** A sealing key by kid: every key in the file unseals. */
  unsealer (kid: string): SealingKey | undefined
  /** Every sealing key, in file order (the sealer first). */
  readonly sealingKeys: readonly SealingKey[]
}

// `key_ops` and `ext` describe the private key (`sign`); left on the public part they make it unimportable.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'key_ops', 'ext']
const PROBE = new TextEncoder().encode('understudy key probe')

/** Loads the signing and sealing JWK Sets named by `keys.signing` and `keys.sealing`. */
export async function loadKeyring (files: { signing: string, sealing: string }): Promise<Keyring> {
  const [signing, sealing] = await Promise.all([readJwks(files.signing), readJwks(files.sealing)])
  if (typeof signing === 'string' || typeof sealing === 'string') {
    const problems: KeyProblem[] = []
    if (typeof signing === 'string') problems.push({ keys: 'signing', message: signing })
    if (typeof sealing === 'string') problems.push({ keys: 'sealing', message: sealing })
    throw keysInvalid(problems)
  }
  return buildKeyring(signing, sealing, files)
}

/** Builds a keyring from JWK Sets already in memory (the demo's fresh keys, tests). */
export async function buildKeyring (signing: { keys: JWK[] }, sealing: { keys: JWK[] }, names = { signing: 'signing', sealing: 'sealing' }): Promise<Keyring> {
  const problems: KeyProblem[] = []
  const addSigning = (message: string) => problems.push({ keys: 'signing', message })
  const addSealing = (message: string) => problems.push({ keys: 'sealing', message })
  const signers = new Map<SigningAlg, SigningKey>()
  const byKid = new Map<string, SigningKey>()
  const publicKeys: JWK[] = []
  for (const [i, jwk] of signing.keys.entries()) {
    const where = `${names.signing} keys[${i}]`
    if (!isObject(jwk)) { addSigning(`${where}: not a JWK object`); continue }
    if (typeof jwk.kid !== 'string' || jwk.kid === '') { addSigning(`${where}: missing kid`); continue }
    if (!SIGNING_ALGS.includes(jwk.alg as SigningAlg)) { addSigning(`${where}: alg must be one of ${SIGNING_ALGS.join(', ')}`); continue }
    if (byKid.has(jwk.kid)) { addSigning(`${where}: duplicate kid ${jwk.kid}`); continue }
    if (jwk.d === undefined) { addSigning(`${where}: not a private key`); continue }
    const alg = jwk.alg as SigningAlg
    try {
      const pub = publicPart(jwk)
      // Extractable because src/keys/sign.ts signs through a KeyObject made from it, which Node 24 deprecates for a non-extractable key (DEP0204).
      const entry = { kid: jwk.kid, alg, key: await importJWK(jwk, alg, { extractable: true }) as CryptoKey, publicKey: await importJWK(pub, alg) as CryptoKey }
      await probe(entry)
      byKid.set(jwk.kid, entry)
      if (!signers.has(alg)) signers.set(alg, entry)
      publicKeys.push(pub)
    } catch (err) {
      addSigning(`${where}: ${(err as Error).message}`)
    }
  }
  if (publicKeys.length === 0) addSigning(`${names.signing}: no usable signing key`)
  const sealers: SealingKey[] = []
  for (const [i, jwk] of sealing.keys.entries()) {
    const where = `${names.sealing} keys[${i}]`
    if (!isObject(jwk)) { addSealing(`${where}: not a JWK object`); continue }
    if (jwk.kty !== 'oct' || typeof jwk.k !== 'string') { addSealing(`${where}: must be an oct key`); continue }
    if (typeof jwk.kid !== 'string' || jwk.kid === '') { addSealing(`${where}: missing kid`); continue }
    if (sealers.some((s) => s.kid === jwk.kid)) { addSealing(`${where}: duplicate kid ${jwk.kid}`); continue }
    if (jwk.alg !== undefined && jwk.alg !== 'dir' && jwk.alg !== 'A256GCM') { addSealing(`${where}: alg must be dir or A256GCM`); continue }
    const key = Buffer.from(jwk.k, 'base64url')
    if (key.length !== 32) { addSealing(`${where}: must be 256 bits, is ${key.length * 8}`); continue }
    sealers.push({ kid: jwk.kid, key: new Uint8Array(key), seals: 0 })
  }
  if (sealers.length === 0) addSealing(`${names.sealing}: no usable sealing key`)
  if (problems.length > 0) throw keysInvalid(problems)
  const unsealers = new Map(sealers.map((s) => [s.kid, s]))
  return {
    signer: (alg) => signers.get(alg),
    publicJwks: { keys: publicKeys },
    verifier: (kid) => byKid.get(kid),
    sealer: sealers[0]!,
    unsealer: (kid) => unsealers.get(kid),
    sealingKeys: sealers,
  }
}

/** The public members of a JWK, with `use: sig`. */
export function publicPart (jwk: JWK): JWK {
  const pub: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(jwk)) if (!PRIVATE_MEMBERS.includes(name)) pub[name] = value
  return { ...pub, use: 'sig' } as JWK
}

/**
 * Signs and verifies a probe so that a key which would fail only at the first
 * login (an RSA modulus under 2048 bits, a private part that does not match
 * its public part) is refused at boot instead.
 */
async function probe (entry: SigningKey): Promise<void> {
  const jws = await new CompactSign(PROBE).setProtectedHeader({ alg: entry.alg }).sign(entry.key)
  try {
    await compactVerify(jws, entry.publicKey, { algorithms: [entry.alg] })
  } catch {
    throw new Error('the private and public parts do not match')
  }
}

function isObject (value: unknown): value is JWK {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Reads a JWK Set file; answers the problem instead when it cannot, so both files are reported at once. */
async function readJwks (file: string): Promise<{ keys: JWK[] } | string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return `${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return `${file}: not JSON: ${(err as Error).message}`
  }
  if (!isObject(parsed) || !Array.isArray((parsed as { keys?: unknown }).keys)) return `${file}: not a JWK Set ({"keys":[...]})`
  return parsed as { keys: JWK[] }
}

function keysInvalid (problems: KeyProblem[]): UnderstudyError {
  return new UnderstudyError('US_ERR_KEYS_INVALID', `unusable keys:\n  ${problems.map((p) => p.message).join('\n  ')}`, { details: { problems } })
}
