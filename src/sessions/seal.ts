import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import { UnderstudyError } from '../errors.js'
import type { Keyring, SealingKey } from '../keys/keyring.js'
import { randomBuffer } from './random.js'

/** What a sealed token is for; a token sealed for one purpose never opens as another (`at`: an opaque access token). */
export type SealKind = 'session' | 'code' | 'refresh' | 'tx' | 'upstream' | 'at' | 'webauthn' | 'backup'

const MAX_SEALED_LENGTH = 16_384
const IV_BYTES = 12
const TAG_BYTES = 16
/** A compact JWE: five base64url parts (one pass over the token, instead of a split and five tests). */
const COMPACT = /^([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)$/

// The format is a standard compact JWE (RFC 7516) with alg "dir" and enc
// "A256GCM", as jose's CompactEncrypt writes it, so tokens sealed before this
// change still open and jose still opens what this seals (test/sessions/seal.test.ts).
// It is built on node:crypto directly because jose goes through WebCrypto,
// which imports the raw key into a new CryptoKey and runs a threadpool job on
// every call: 64 µs of CPU per seal against 13.5 µs here, and an SSO flow
// seals or opens four times (bench/README.md, "Profile findings").

interface PreparedKey { key: KeyObject, header: string, aad: Buffer }
const prepared = new WeakMap<SealingKey, PreparedKey>()

/**
 * AES-GCM with random 96-bit IVs is safe for 2^32 messages per key (NIST SP
 * 800-38D §8.3). Each time one process's count under a key reaches another
 * multiple of this, it is reported: the fleet's count is the sum over every
 * pod, so one pod's quarter of the bound is already a reason to rotate.
 */
export const SEAL_WARN_EVERY = 2 ** 30
const warnings = new WeakMap<Keyring, (kid: string, seals: number) => void>()

/** Calls `warn` each time this process's seals under one of `keys` reach a multiple of SEAL_WARN_EVERY. */
export function watchSealUsage (keys: Keyring, warn: (kid: string, seals: number) => void): void {
  warnings.set(keys, warn)
}

/** The KeyObject and encoded protected header of a sealing key, made once per key. */
function prepare (sealing: SealingKey): PreparedKey {
  let entry = prepared.get(sealing)
  if (entry === undefined) {
    const header = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: sealing.kid })).toString('base64url')
    entry = { key: createSecretKey(sealing.key), header, aad: Buffer.from(header, 'ascii') }
    prepared.set(sealing, entry)
  }
  return entry
}

/**
 * Seals `payload` as a compact JWE (dir + A256GCM) with the first sealing key.
 * Every region shares the sealing keys, so any region can open what another sealed.
 * Synchronous, as node:crypto's AES-GCM is: a few microseconds, no promise to wait on.
 */
export function seal (keys: Keyring, kind: SealKind, payload: object, expiresAt: number): string {
  const sealer = keys.sealer
  if (++sealer.seals % SEAL_WARN_EVERY === 0) warnings.get(keys)?.(sealer.kid, sealer.seals)
  const { key, header, aad } = prepare(sealer)
  const iv = randomBuffer(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(aad)
  const body = sealedJson(payload, kind, expiresAt)
  const ciphertext = joined(cipher.update(body, 'utf8'), cipher.final())
  return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`
}

/**
 * The plaintext of a seal: JSON.stringify({ ...payload, knd, exp }), byte for
 * byte, written without copying the payload first (the copy of a grant's
 * dozen fields was a fifth of a seal's instructions): the payload's own JSON
 * with `knd` and `exp` appended. A payload with a `knd` or `exp` of its own is copied as before.
 */
function sealedJson (payload: object, kind: SealKind, expiresAt: number): string {
  if (!('knd' in payload) && !('exp' in payload)) {
    const json = JSON.stringify(payload)
    const tail = `"knd":"${kind}","exp":${JSON.stringify(expiresAt)}}`
    if (json === '{}') return `{${tail}`
    if (json.charCodeAt(json.length - 1) === 0x7d) return `${json.slice(0, -1)},${tail}`
  }
  return JSON.stringify({ ...payload, knd: kind, exp: expiresAt })
}

/**
 * Opens a sealed token of `kind`; throws US_ERR_SEAL_INVALID when it is malformed,
 * forged, sealed with an unknown key, of another kind, or expired at `now` (seconds).
 */
export function unseal<T> (keys: Keyring, kind: SealKind, token: string, now: number): T & { exp: number } {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_SEALED_LENGTH) throw invalid('not a sealed token')
  const parts = COMPACT.exec(token)
  if (parts === null) throw invalid('malformed')
  const [, protectedHeader, encryptedKey, iv, ciphertext, tag] = parts as unknown as [string, string, string, string, string, string]
  if (encryptedKey !== '') throw invalid('unexpected encrypted key')
  // Nearly every token was sealed with the current key: its header is known byte for byte.
  const current = prepare(keys.sealer)
  const known = protectedHeader === current.header
  const { key } = known ? current : prepare(sealingKeyOf(keys, protectedHeader))
  const ivBytes = Buffer.from(iv, 'base64url')
  const tagBytes = Buffer.from(tag, 'base64url')
  if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) throw invalid('malformed')
  let payload: Record<string, unknown>
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: TAG_BYTES })
    // The AAD is the protected header exactly as received (RFC 7516 §5.2 step 14).
    decipher.setAAD(known ? current.aad : Buffer.from(protectedHeader, 'ascii'))
    decipher.setAuthTag(tagBytes)
    const plaintext = joined(decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final())
    payload = JSON.parse(plaintext.toString('utf8'))
  } catch (err) {
    throw invalid('does not open', err)
  }
  if (payload === null || typeof payload !== 'object' || payload.knd !== kind) throw invalid(`not a ${kind}`)
  if (typeof payload.exp !== 'number' || payload.exp <= now) throw invalid('expired')
  return payload as T & { exp: number }
}

/** The key a protected header names, once the header is checked as jose would: dir + A256GCM, no compression, no critical extensions. */
function sealingKeyOf (keys: Keyring, protectedHeader: string): SealingKey {
  let header: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8'))
  } catch (err) {
    throw invalid('malformed', err)
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw invalid('malformed')
  if (header.alg !== 'dir' || header.enc !== 'A256GCM') throw invalid('unexpected algorithm')
  if (header.zip !== undefined || header.crit !== undefined) throw invalid('unexpected header')
  const sealing = typeof header.kid === 'string' ? keys.unsealer(header.kid) : undefined
  if (!sealing) throw invalid('unknown sealing key')
  return sealing
}

/** GCM is a stream mode: `final()` returns nothing but the tag check, so there is rarely anything to join. */
function joined (head: Buffer, tail: Buffer): Buffer {
  return tail.length === 0 ? head : Buffer.concat([head, tail])
}

function invalid (why: string, cause?: unknown): UnderstudyError {
  return new UnderstudyError('US_ERR_SEAL_INVALID', `sealed token rejected: ${why}`, { cause })
}
