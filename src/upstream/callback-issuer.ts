import { UnderstudyError } from '../errors.js'

/**
 * The mix-up defence of RFC 9207: a callback's `iss` must name the provider we
 * sent the browser to, and must be there when the provider says it always sends it.
 * Without an expected issuer (plain OAuth 2.0 with none configured) there is nothing to compare.
 */
export function checkCallbackIssuer (received: string | undefined, expected: string | undefined, required: boolean): void {
  if (expected === undefined) return
  if (received === undefined) {
    if (required) throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the callback has no iss parameter, but the upstream always sends one (RFC 9207)', { details: { reason: 'iss_missing' } })
    return
  }
  if (received !== expected) {
    throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the callback iss parameter does not name the expected upstream issuer (RFC 9207)', { details: { reason: 'iss_mismatch', expected } })
  }
}
