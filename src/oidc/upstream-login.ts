import { hash } from 'node:crypto'
import type { Config } from '../config/resolve.js'
import { isUnderstudyError } from '../errors.js'
import type { Keyring } from '../keys/keyring.js'
import type { Logger } from '../log.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'
import type { CookieNames } from '../sessions/session.js'
import type { AuthorizationRequest } from './authorization-request.js'
import { providerUnavailable, type Redirect } from './answer.js'
import { OAuthError } from './errors.js'
import type { Clock, Upstreams } from './deps.js'
import { reauthenticateUpFront } from './fresh-authentication.js'
import { TRANSACTION_LIFETIME, newTransaction, sealTransaction, type AccountTransaction, type Transaction, type UpstreamVisit } from './transaction.js'

/** What sending a browser to the upstream uses. */
export interface UpstreamLoginDeps {
  issuer: string
  keys: Keyring
  now: Clock
  cookies: Pick<CookieNames, 'transaction'>
  upstreams: Upstreams
  /** The configured providers: how each is asked (PKCE, the kind of upstream). */
  providers: ReadonlyArray<Pick<Config['providers'][number], 'id' | 'kind' | 'pkce' | 'reauthenticate'>>
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
export async function startUpstreamLogin (deps: UpstreamLoginDeps, request: AuthorizationRequest, log: Logger, reauthenticate?: boolean): Promise<Redirect> {
  const provider = deps.providers.find((p) => p.id === request.provider)!
  const forced = reauthenticate ?? reauthenticateUpFront(request, provider.kind)
  return visitUpstream<Transaction>(deps, request.provider, { request }, {
    reauthenticate: forced,
    ...(request.maxAge !== undefined ? { maxAge: request.maxAge } : {}),
    ...(request.loginHint ? { loginHint: request.loginHint } : {}),
  }, log)
}

/** What the upstream is asked besides the login itself. */
export interface UpstreamAsk { reauthenticate: boolean, maxAge?: number, loginHint?: string }

/**
 * Sends the browser to `providerId` in a new transaction for `purpose` (a
 * relying party's request, a backup login through a linked provider, the
 * account page), sealed into a browser-bound cookie. An outage is
 * temporarily_unavailable (with Retry-After); metadata the gateway refuses is
 * server_error, never an outage.
 */
export async function visitUpstream<T extends Transaction | AccountTransaction> (deps: UpstreamLoginDeps, providerId: string, purpose: Omit<T, keyof UpstreamVisit>, ask: UpstreamAsk, log: Logger): Promise<Redirect> {
  const router = deps.upstreams.get(providerId)!
  const provider = deps.providers.find((p) => p.id === router.id)!
  const now = deps.now()
  const tx = newTransaction<T>(purpose as Omit<T, keyof UpstreamVisit>, router.id, now, { pkce: provider.pkce, reauthenticate: ask.reauthenticate })
  let routed: { region: string, url: string }
  try {
    routed = await router.authorizationUrl({
      redirectUri: callbackUrl(deps.issuer, router.id),
      state: tx.state,
      nonce: tx.nonce,
      ...(tx.verifier ? { codeChallenge: hash('sha256', tx.verifier, 'base64url') } : {}),
      ...(ask.reauthenticate ? { reauthenticate: true } : {}),
      ...(ask.maxAge !== undefined ? { maxAge: ask.maxAge } : {}),
      ...(ask.loginHint ? { loginHint: ask.loginHint } : {}),
    })
  } catch (err) {
    if (!isUnderstudyError(err)) throw err
    log.warn({ err, provider: router.id }, 'upstream cannot start a login')
    // Only an outage may lead to a cached login; an answer the gateway refuses (a 404 discovery document, one that fails validation) is not one.
    if (classifyUpstreamFailure(err) === 'fatal') throw new OAuthError('server_error', 'the login provider\'s metadata could not be used; the operator has been told', { cause: err })
    throw providerUnavailable(router, err)
  }
  const sealed = sealTransaction(deps.keys, { ...tx, region: routed.region } as T, now)
  return { location: routed.url, cookies: [{ name: deps.cookies.transaction(tx.state), value: sealed, maxAge: TRANSACTION_LIFETIME }], upstream: true }
}
