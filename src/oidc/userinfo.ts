import { OAuthError } from './errors.js'
import { Params, type RawParams } from './params.js'
import { activeAccessToken, type AccessTokenDeps } from './tombstones.js'

/**
 * The userinfo endpoint: the bearer token from the Authorization header, or
 * `access_token` in a form body (RFC 6750 §2.1, §2.2), never both.
 */
export async function userinfo (deps: AccessTokenDeps, authorization: string | undefined, body: RawParams | undefined): Promise<Record<string, unknown>> {
  const claims = await activeAccessToken(deps, bearerToken(authorization, body))
  if (!claims.scope.split(' ').includes('openid')) throw new OAuthError('invalid_token', 'the access token was not issued for openid', { challenge: 'Bearer' })
  return { ...claims.uc, sub: claims.sub }
}

function bearerToken (authorization: string | undefined, body: RawParams | undefined): string {
  const fromBody = new Params(body).get('access_token')
  if (authorization !== undefined && authorization !== '') {
    const match = /^bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization.trim())
    if (!match) throw new OAuthError('invalid_token', 'the Authorization header is not a Bearer token', { challenge: 'Bearer' })
    if (fromBody !== undefined) throw new OAuthError('invalid_request', 'the access token was sent in more than one way', { challenge: 'Bearer' })
    return match[1]!
  }
  if (fromBody !== undefined) return fromBody
  throw new OAuthError('invalid_token', 'an access token is required', { challenge: 'Bearer' })
}
