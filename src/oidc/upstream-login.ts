import { hash } from 'node:crypto'
import type { Config } from '../config/resolve.js'
import { isUnderstudyError } from '../errors.js'
import type { Keyring } from '../keys/keyring.js'
import type { Logger } from '../log.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'
import type { CookieNames } from '../sessions/session.js'
import type { AuthorizationRequest } from './authorization-request.js'
import { providerUnavailable, type BrowserOutcome } from './answer.js'
import { OAuthError } from './errors.js'
import type { Clock, Upstreams } from './deps.js'
import { reauthenticateUpFront } from './fresh-authentication.js'
import { TRANSACTION_LIFETIME, newTransaction, sealTransaction } from './transaction.js'

/** What sending a browser to the upstream uses. */
export interface UpstreamLoginDeps {
  issuer: string
  keys: Keyring
  now: Clock
  cookies: Pick<CookieNames, 'transaction'>
  upstreams: Upstreams
  /** The configured providers: how each is asked (PKCE, the kind of upstream). */
  providers: ReadonlyArray<Pick<Config['providers'][number], 'id' | 'kind' | 'pkce'>>
}

/** The gateway's redirect URI at the upstream: `/callback/:provider`. */
export function callbackUrl (issuer: string, provider: string): string {
  return `${issuer}/callback/${encodeURIComponent(provider)}`
}

/**
 * Sends the browser to the upstream in a new transaction; `reauthenticate`
 * demands fresh authentication there (default: when the request does, see
 * reauthenticateUpFront).
 */
export async function startUpstreamLogin (deps: UpstreamLoginDeps, request: AuthorizationRequest, log: Logger, reauthenticate?: boolean): Promise<BrowserOutcome> {
  const router = deps.upstreams.get(request.provider)!
  const provider = deps.providers.find((p) => p.id === router.id)!
  const forced = reauthenticate ?? reauthenticateUpFront(request, provider.kind)
  const now = deps.now()
  const tx = newTransaction(request, router.id, now, { pkce: provider.pkce, reauthenticate: forced })
  let routed: { region: string, url: string }
  try {
    routed = await router.authorizationUrl({
      redirectUri: callbackUrl(deps.issuer, router.id),
      state: tx.state,
      nonce: tx.nonce,
      ...(tx.verifier ? { codeChallenge: hash('sha256', tx.verifier, 'base64url') } : {}),
      ...(forced ? { reauthenticate: true } : {}),
      ...(request.maxAge !== undefined ? { maxAge: request.maxAge } : {}),
      ...(request.loginHint ? { loginHint: request.loginHint } : {}),
    })
  } catch (err) {
    if (!isUnderstudyError(err)) throw err
    log.warn({ err, provider: router.id }, 'upstream cannot start a login')
    // Only an outage may lead to a cached login; an answer the gateway refuses (a 404 discovery document, one that fails validation) is not one.
    if (classifyUpstreamFailure(err) === 'fatal') throw new OAuthError('server_error', 'the login provider\'s metadata could not be used; the operator has been told', { cause: err })
    throw providerUnavailable(router, err)
  }
  const sealed = sealTransaction(deps.keys, { ...tx, region: routed.region }, now)
  return { location: routed.url, cookies: [{ name: deps.cookies.transaction(tx.state), value: sealed, maxAge: TRANSACTION_LIFETIME }], upstream: true }
}
