import { isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { LoginOutcome } from '../observability/metrics.js'
import { ACR_BACKUP, ACR_CACHED, ACR_UPSTREAM } from '../sessions/freshness.js'
import { randomId } from '../sessions/random.js'
import { subjectFor, type CookieNames, type Session } from '../sessions/session.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'
import { answerWithCode, providerUnavailable, type AnswerDeps, type BrowserOutcome } from './answer.js'
import { redirectTarget } from './authorization-request.js'
import type { ClientRegistry } from './clients.js'
import type { Clock, LoginRecorder, Upstreams } from './deps.js'
import { OAuthError, type OAuthErrorCode } from './errors.js'
import { freshEnough } from './fresh-authentication.js'
import { Params, type RawParams } from './params.js'
import { readSession, sealSession, type SessionReadDeps, type SessionSealDeps } from './session-cookie.js'
import { sessionStanding } from './session-standing.js'
import { TRANSACTION_LIFETIME, isState, openTransaction, type Transaction } from './transaction.js'
import { callbackUrl, startUpstreamLogin, type UpstreamLoginDeps } from './upstream-login.js'

/** What the upstream's redirect back to the gateway uses. */
export interface CallbackDeps extends AnswerDeps, SessionReadDeps, SessionSealDeps, UpstreamLoginDeps {
  cookies: Pick<CookieNames, 'session' | 'transaction'>
  clients: Pick<ClientRegistry, 'get'>
  recordLogin: LoginRecorder
}

/**
 * Upstream errors that mean the same to the relying party and are passed on as
 * they are. They come through the browser, so whoever holds the browser picks
 * them: even `temporarily_unavailable` is passed on, never taken as an outage.
 */
const PASSED_ON = new Set<OAuthErrorCode>(['access_denied', 'login_required', 'interaction_required', 'consent_required', 'account_selection_required', 'temporarily_unavailable'])

/**
 * The upstream's redirect back to the gateway: checks the transaction is this
 * browser's and unused, redeems the upstream code in the region the browser
 * was sent to, starts a new session and answers the relying party with a code.
 * Only a transient failure of that exchange (the gateway's own evidence) lets
 * a returning user be served a cached login instead.
 */
export async function callback (deps: CallbackDeps, providerId: string, raw: RawParams, cookie: (name: string) => string | undefined, log: Logger): Promise<BrowserOutcome> {
  const params = new Params(raw)
  const state = params.get('state')
  if (!isState(state)) throw new OAuthError('invalid_request', 'the login response has no valid state; start the login again from the site')
  const sealed = cookie(deps.cookies.transaction(state))
  if (sealed === undefined) throw new OAuthError('invalid_request', 'this login was started in another browser or has expired; start it again from the site')
  let tx: Transaction
  try {
    tx = openTransaction(deps.keys, sealed, deps.now())
  } catch (err) {
    throw new OAuthError('invalid_request', 'this login has expired; start it again from the site', { cause: err })
  }
  if (tx.state !== state || tx.provider !== providerId) throw new OAuthError('invalid_request', 'the login response does not belong to this login')
  if (!(await deps.store.claimOnce(`state:${state}`, TRANSACTION_LIFETIME))) throw new OAuthError('invalid_request', 'this login response was already used')

  const request = tx.request
  const target = redirectTarget(request)
  const count = (outcome: LoginOutcome) => deps.recordLogin(request.clientId, tx.provider, outcome)
  let session: Session
  let upstreamAuthTime: number | undefined
  try {
    ({ session, upstreamAuthTime } = await redeem(deps, tx, params, log))
  } catch (err) {
    if (err instanceof OAuthError) {
      count('error')
      throw err.redirectTo(target)
    }
    if (!isUnderstudyError(err)) throw err
    log.warn({ err, provider: tx.provider, region: tx.region }, 'upstream code exchange failed')
    if (classifyUpstreamFailure(err) === 'fatal') {
      count('error')
      throw new OAuthError('access_denied', 'the login provider refused the login, or its answer failed validation', { cause: err }).redirectTo(target)
    }
    // The gateway's own call for this login failed: that, never an error the browser brings back, makes a cached login.
    const cached = await readSession(deps, cookie(deps.cookies.session), log)
    const client = deps.clients.get(request.clientId)
    const standing = client ? sessionStanding(client.freshness, request, cached, deps.now()) : 'none'
    if (standing !== 'none') {
      count('cached')
      // A backup session stands only while fresh, and answers as what it is.
      return answerWithCode(deps, request, cached!, cached!.backup === undefined ? ACR_CACHED : ACR_BACKUP)
    }
    count('unavailable')
    // redeem reached the exchange, so the router is there.
    throw providerUnavailable(deps.upstreams.get(tx.provider)!, err).redirectTo(target)
  }
  if (request.hintSub !== undefined && session.sub !== request.hintSub) {
    // OIDC Core §3.1.2.1: the hint named a user who is not the one who logged in, so the answer is
    // login_required (that user is not logged in), not access_denied (nobody refused anything).
    // No code and no new session: this browser keeps whatever session it had.
    log.info({ provider: tx.provider, client: request.clientId }, 'the upstream login is not the user id_token_hint names')
    count('error')
    throw new OAuthError('login_required', 'the user who logged in is not the one the site asked for').redirectTo(target)
  }
  if (!freshEnough(request, tx, upstreamAuthTime, deps.now())) {
    return reauthenticate(deps, tx, count, log).catch((err: unknown) => { throw err instanceof OAuthError ? err.redirectTo(target) : err })
  }
  const answer = answerWithCode(deps, request, session, ACR_UPSTREAM)
  const cookieValue = await sealSession(deps, session)
  count('upstream')
  // The HTTP layer clears the transaction cookie whatever the outcome.
  return { ...answer, cookies: [{ name: deps.cookies.session, ...cookieValue }] }
}

/** The new session from the upstream's answer, and the upstream's own `auth_time` when it gave one. */
async function redeem (deps: { issuer: string, now: Clock, upstreams: Upstreams }, tx: Transaction, params: Params, log: Logger): Promise<{ session: Session, upstreamAuthTime: number | undefined }> {
  const upstreamError = params.get('error')
  if (upstreamError !== undefined) {
    log.info({ provider: tx.provider, region: tx.region, upstreamError }, 'upstream declined the login')
    const code = PASSED_ON.has(upstreamError as OAuthErrorCode) ? upstreamError as OAuthErrorCode : 'access_denied'
    throw new OAuthError(code, 'the login provider did not complete the login')
  }
  const router = deps.upstreams.get(tx.provider)
  // A transaction sealed before a config change may name a provider that is gone.
  if (!router) throw new OAuthError('invalid_request', 'this login\'s provider is no longer configured; start the login again from the site')
  const iss = params.get('iss')
  const identity = await router.exchangeCode(tx.region, {
    code: params.require('code'),
    redirectUri: callbackUrl(deps.issuer, tx.provider),
    nonce: tx.nonce,
    ...(tx.verifier ? { codeVerifier: tx.verifier } : {}),
    ...(iss === undefined ? {} : { iss }),
  })
  const now = deps.now()
  const session: Session = {
    sid: randomId(),
    sub: subjectFor(tx.provider, identity.sub),
    upstreamSub: identity.sub,
    provider: tx.provider,
    claims: identity.claims,
    // The upstream's own auth_time: it may have signed the user in from its session long ago. An upstream that
    // gives none (plain OAuth 2.0) vouches only for now. Never later than now on the gateway's clock.
    authTime: Math.min(identity.authTime ?? now, now),
    vouchedAt: now,
    ...(identity.amr ? { amr: identity.amr } : {}),
    ...(identity.refreshToken ? { upstreamRefreshToken: identity.refreshToken } : {}),
  }
  return { session, upstreamAuthTime: identity.authTime }
}

/**
 * The upstream's login is older than the relying party allows: the browser
 * goes back once more, in a new transaction, with the provider's
 * `reauthenticate` parameters. A login still too old after that is
 * `login_required`, never a code whose auth_time the site did not ask for.
 */
async function reauthenticate (deps: CallbackDeps, tx: Transaction, count: (outcome: LoginOutcome) => void, log: Logger): Promise<BrowserOutcome> {
  const context = { provider: tx.provider, client: tx.request.clientId }
  if (tx.reauthenticated === true) {
    log.warn(context, 'the upstream did not re-authenticate the user as demanded')
    count('error')
    throw new OAuthError('login_required', 'the login provider did not authenticate the user as recently as the site asked')
  }
  log.info(context, 'the upstream login is older than the site allows; asking the upstream to re-authenticate')
  try {
    return await startUpstreamLogin(deps, tx.request, log, true)
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'temporarily_unavailable') count('unavailable')
    throw err
  }
}
