import { UnderstudyError } from '../../../errors.js'
import { isObject } from '../../http.js'

// Never taken from a mapping: the gateway sets these itself for its own tokens.
const RESERVED = new Set(['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'auth_time', 'acr', 'amr', 'azp', 'nonce', 'sid'])

/** Reads a dotted path (`response.id`) from a JSON value; own properties only. */
export function readPath (source: unknown, path: string): unknown {
  let value = source
  for (const key of path.split('.')) {
    if (!isObject(value) || !Object.hasOwn(value, key)) return undefined
    value = value[key]
  }
  return value
}

/**
 * Maps a userinfo response to an identity with `claims` (claim name → dotted path).
 * `sub` is required and becomes a string (numeric ids, as Kakao's, are common).
 */
export function mapClaims (userinfo: Record<string, unknown>, mapping: Record<string, string>): { sub: string, claims: Record<string, unknown> } {
  const path = mapping.sub
  const raw = path === undefined ? undefined : readPath(userinfo, path)
  let sub: string | undefined
  if (typeof raw === 'string' && raw.length > 0) sub = raw
  else if (typeof raw === 'number' && Number.isSafeInteger(raw)) sub = String(raw)
  if (sub === undefined) {
    throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', `the userinfo response has no usable subject at ${JSON.stringify(path)}`, { details: { operation: 'userinfo' } })
  }
  const claims: Record<string, unknown> = {}
  for (const [name, claimPath] of Object.entries(mapping)) {
    if (RESERVED.has(name)) continue
    const value = readPath(userinfo, claimPath)
    if (value !== undefined && value !== null) claims[name] = value
  }
  return { sub, claims }
}
