import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose'
import { UnderstudyError } from '../errors.js'
import type { Keyring } from '../keys/keyring.js'

/** What a sealed token is for; a token sealed for one purpose never opens as another. */
export type SealKind = 'session' | 'code' | 'refresh' | 'tx'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const MAX_SEALED_LENGTH = 16_384

/**
 * Seals `payload` as a compact JWE (dir + A256GCM) with the first sealing key.
 * Every region shares the sealing keys, so any region can open what another sealed.
 */
export async function seal (keys: Keyring, kind: SealKind, payload: object, expiresAt: number): Promise<string> {
  const body = encoder.encode(JSON.stringify({ ...payload, knd: kind, exp: expiresAt }))
  return new CompactEncrypt(body)
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: keys.sealer.kid })
    .encrypt(keys.sealer.key)
}

/**
 * Opens a sealed token of `kind`; throws US_ERR_SEAL_INVALID when it is malformed,
 * forged, sealed with an unknown key, of another kind, or expired at `now` (seconds).
 */
export async function unseal<T> (keys: Keyring, kind: SealKind, token: string, now: number): Promise<T & { exp: number }> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_SEALED_LENGTH) throw invalid('not a sealed token')
  let kid: unknown
  try {
    const header = decodeProtectedHeader(token)
    if (header.alg !== 'dir' || header.enc !== 'A256GCM') throw invalid('unexpected algorithm')
    kid = header.kid
  } catch (err) {
    throw err instanceof UnderstudyError ? err : invalid('malformed', err)
  }
  const key = typeof kid === 'string' ? keys.unsealer(kid) : undefined
  if (!key) throw invalid('unknown sealing key')
  let payload: Record<string, unknown>
  try {
    const { plaintext } = await compactDecrypt(token, key.key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] })
    payload = JSON.parse(decoder.decode(plaintext))
  } catch (err) {
    throw invalid('does not open', err)
  }
  if (payload === null || typeof payload !== 'object' || payload.knd !== kind) throw invalid(`not a ${kind}`)
  if (typeof payload.exp !== 'number' || payload.exp <= now) throw invalid('expired')
  return payload as T & { exp: number }
}

function invalid (why: string, cause?: unknown): UnderstudyError {
  return new UnderstudyError('US_ERR_SEAL_INVALID', `sealed token rejected: ${why}`, { cause })
}
