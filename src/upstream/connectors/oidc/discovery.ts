import { UnderstudyError } from '../../../errors.js'
import { upstreamJson } from '../../http.js'

/** The part of an OpenID Provider's discovery document the connector uses. */
export interface OidcMetadata {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  jwks_uri: string
  userinfo_endpoint?: string
  token_endpoint_auth_methods_supported?: string[]
  id_token_signing_alg_values_supported?: string[]
  authorization_response_iss_parameter_supported?: boolean
  claims_parameter_supported?: boolean
}

/** Where a region's discovery document lives (OIDC Discovery §4: the path is appended to the region URL). */
export function discoveryUrl (regionUrl: string): string {
  return `${regionUrl.replace(/\/+$/, '')}/.well-known/openid-configuration`
}

/** Fetches and validates one region's discovery document; its `issuer` must be the configured one, exactly. */
export async function fetchDiscovery (regionUrl: string, expectedIssuer: string, timeoutMs: number): Promise<OidcMetadata> {
  const url = discoveryUrl(regionUrl)
  return checkDiscovery(await upstreamJson(url, { timeoutMs, operation: 'discovery' }), expectedIssuer, `at ${url}`, { operation: 'discovery', url })
}

/** The codec of a discovery document's backup copy: read back, it passes the same checks as when it was fetched. */
export function discoveryCodec (expectedIssuer: string): { encode (doc: OidcMetadata): string, decode (text: string): OidcMetadata } {
  return {
    encode: (doc) => JSON.stringify(doc),
    decode: (text) => checkDiscovery(JSON.parse(text), expectedIssuer, 'kept in the store', { operation: 'discovery' }),
  }
}

function checkDiscovery (doc: Record<string, unknown>, expectedIssuer: string, where: string, details: Record<string, unknown>): OidcMetadata {
  const invalid = (why: string): UnderstudyError => new UnderstudyError('US_ERR_UPSTREAM_INVALID', `the discovery document ${where} ${why}`, { details })
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('is not a JSON object')
  if (doc.issuer !== expectedIssuer) throw invalid(`names issuer ${JSON.stringify(doc.issuer)}, not the configured ${JSON.stringify(expectedIssuer)}`)
  for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint'] as const) {
    const value = doc[key]
    if (value === undefined && key === 'userinfo_endpoint') continue
    if (!isHttpUrl(value)) throw invalid(`has no usable ${key}`)
  }
  for (const key of ['token_endpoint_auth_methods_supported', 'id_token_signing_alg_values_supported'] as const) {
    const value = doc[key]
    if (value !== undefined && !(Array.isArray(value) && value.every((item) => typeof item === 'string'))) throw invalid(`has a malformed ${key}`)
  }
  for (const key of ['authorization_response_iss_parameter_supported', 'claims_parameter_supported'] as const) {
    if (doc[key] !== undefined && typeof doc[key] !== 'boolean') throw invalid(`has a malformed ${key}`)
  }
  return doc as unknown as OidcMetadata
}

function isHttpUrl (value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    const { protocol } = new URL(value)
    return protocol === 'https:' || protocol === 'http:'
  } catch {
    return false
  }
}
