import { isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { LoginOutcome } from '../observability/metrics.js'
import { ACR_BACKUP, ACR_CACHED, ACR_UPSTREAM } from '../sessions/freshness.js'
import type { CookieNames, Session } from '../sessions/session.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'
import { isWellFormedCode } from '../upstream/router.js'
import { answerWithCode, gatewayBusy, providerUnavailable, type AnswerDeps, type BrowserOutcome, type Redirect } from './answer.js'
import { redeem } from './redeem.js'
import { redirectTarget } from './authorization-request.js'
import type { ClientRegistry } from './clients.js'
import type { LoginRecorder } from './deps.js'
import { OAuthError } from './errors.js'
import { freshEnough } from './fresh-authentication.js'
import { Params, type RawParams } from './params.js'
import { readSession, sealSession, type SessionReadDeps, type SessionSealDeps } from './session-cookie.js'
import { sessionStanding } from './session-standing.js'
import { TRANSACTION_LIFETIME, isState, openTransaction, type AccountTransaction, type Transaction } from './transaction.js'
import { accountVisit } from '../backup/account-visit.js'
import { checkBackupAnswer } from '../backup/answer.js'
import type { BackupDeps } from '../backup/deps.js'
import type { IdentityEvents } from '../backup/identity-events.js'
import { linkedPersonSession } from '../backup/linked-login.js'
import { shouldOffer } from '../backup/offer.js'
import { sealBackupContext } from '../backup/page.js'
import { startUpstreamLogin, type UpstreamLoginDeps } from './upstream-login.js'

/** What the upstream's redirect back to the gateway uses. */
export interface CallbackDeps extends AnswerDeps, SessionReadDeps, SessionSealDeps, UpstreamLoginDeps {
  cookies: Pick<CookieNames, 'session' | 'transaction'>
  clients: Pick<ClientRegistry, 'get'>
  recordLogin: LoginRecorder
  /** Backup login (DESIGN §10); absent when it is off. */
  backup?: BackupDeps
  identityEvents?: IdentityEvents
}

/**
 * The upstream's redirect back to the gateway: checks the transaction is this
 * browser's and unused, redeems the upstream code in the region the browser
 * was sent to, starts a new session and answers the relying party with a code.
 * Only a transient failure of that exchange (the gateway's own evidence) lets
 * a returning user be served a cached login instead; an exchange refused
 * because the region is at capacity is temporarily_unavailable.
 */
export async function callback (deps: CallbackDeps, providerId: string, raw: RawParams, cookie: (name: string) => string | undefined, log: Logger): Promise<BrowserOutcome> {
  const params = new Params(raw)
  const state = params.get('state')
  if (!isState(state)) throw new OAuthError('invalid_request', 'the login response has no valid state; start the login again from the site')
  const sealed = cookie(deps.cookies.transaction(state))
  if (sealed === undefined) throw new OAuthError('invalid_request', 'this login was started in another browser or has expired; start it again from the site')
  let opened: Transaction | AccountTransaction
  try {
    opened = openTransaction(deps.keys, sealed, deps.now())
  } catch (err) {
    throw new OAuthError('invalid_request', 'this login has expired; start it again from the site', { cause: err })
  }
  if (opened.state !== state || opened.provider !== providerId) throw new OAuthError('invalid_request', 'the login response does not belong to this login')
  if (!(await deps.store.claimOnce(`state:${state}`, TRANSACTION_LIFETIME))) throw new OAuthError('invalid_request', 'this login response was already used')
  if ('account' in opened) return accountVisit(deps, opened, params, cookie, log)
  const tx = opened

  const request = tx.request
  const target = redirectTarget(request)
  const count = (outcome: LoginOutcome) => deps.recordLogin(request.clientId, tx.provider, outcome)
  const code = params.get('code')
  if (code !== undefined && !isWellFormedCode(code)) {
    // Not a code any upstream issues (RFC 6749 §A.11): refused here, never sent to the token endpoint, never an outage.
    log.info({ provider: tx.provider, region: tx.region }, 'the login response carries a malformed code')
    count('error')
    throw new OAuthError('invalid_request', 'the login response carries a malformed code').redirectTo(target)
  }
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
    const failure = classifyUpstreamFailure(err)
    if (failure === 'busy') {
      // Not sent: the region had as many exchanges in flight as it allows. The gateway's own load (perhaps a flood of
      // callbacks from many addresses) is no evidence of an outage, so never a cached login; nor did anybody refuse the user.
      log[err.details.announce === true ? 'warn' : 'debug']({ provider: tx.provider, region: tx.region, refused: err.details.refused }, 'upstream region at capacity: code exchange refused, temporarily_unavailable')
      count('unavailable')
      throw gatewayBusy(err).redirectTo(target)
    }
    log.warn({ err, provider: tx.provider, region: tx.region }, 'upstream code exchange failed')
    if (failure === 'fatal') {
      count('error')
      throw new OAuthError('access_denied', 'the login provider refused the login, or its answer failed validation', { cause: err }).redirectTo(target)
    }
    // The gateway's own call for this login failed: that, never an error the browser brings back, makes a cached login.
    // A linked provider's failure says nothing about the user's own provider: no cached login stands in for it.
    const cached = tx.backup === true ? undefined : await readSession(deps, cookie(deps.cookies.session), log)
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
  // A linked provider's login names the person only through the directory: its hint is checked against that person.
  if (tx.backup === true) {
    // The site's demand for fresh authentication holds for a linked provider too: it was asked with the request's prompt and max_age.
    if (!freshEnough(request, tx, upstreamAuthTime, deps.now())) {
      count('error')
      throw new OAuthError('login_required', 'the linked provider did not authenticate the user as recently as the site asked').redirectTo(target)
    }
    return backupThroughLinked(deps, tx, session, log).catch((err: unknown) => { throw err instanceof OAuthError ? err.redirectTo(target) : err })
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
  const sessionCookie = { name: deps.cookies.session, ...await sealSession(deps, session) }
  count('upstream')
  // The HTTP layer clears the transaction cookie whatever the outcome.
  if (await shouldOffer(deps.backup, session, deps.now(), log)) {
    // The answer waits for the user's choice on the offer page, and is issued then from this session alone.
    const context = sealBackupContext(deps.keys, { request, sid: session.sid }, deps.now())
    return { page: { kind: 'offer', provider: session.provider, site: request.clientId, context }, cookies: [sessionCookie] }
  }
  return { ...answerWithCode(deps, request, session, ACR_UPSTREAM), cookies: [sessionCookie] }
}

/**
 * The user logged in at a linked provider because their own is down: the
 * directory names the person, whose usual `sub` the relying party gets, as a
 * backup login (acr backup), if the client accepts one.
 */
async function backupThroughLinked (deps: CallbackDeps, tx: Transaction, upstream: Session, log: Logger): Promise<Redirect> {
  const request = tx.request
  const count = (outcome: LoginOutcome) => deps.recordLogin(request.clientId, request.provider, outcome)
  const client = deps.clients.get(request.clientId)
  let session: Session
  try {
    if (!client?.freshness.acceptBackupLogin) throw new OAuthError('temporarily_unavailable', 'the login provider is unavailable and this site does not accept backup logins')
    session = await linkedPersonSession(deps.backup, upstream, deps.now(), log)
    checkBackupAnswer(client, request, session)
  } catch (err) {
    count(err instanceof OAuthError && err.error === 'temporarily_unavailable' ? 'unavailable' : 'error')
    throw err
  }
  deps.recordLogin(request.clientId, request.provider, 'backup', 'linked')
  log.info({ provider: session.provider, via: upstream.provider, client: request.clientId }, 'backup login through a linked provider')
  const sessionCookie = { name: deps.cookies.session, ...await sealSession(deps, session) }
  return { ...answerWithCode(deps, request, session, ACR_BACKUP), cookies: [sessionCookie] }
}

/**
 * The upstream's login is older than the relying party allows: the browser
 * goes back once more, in a new transaction, with the provider's
 * `reauthenticate` parameters. A login still too old after that is
 * `login_required`, never a code whose auth_time the site did not ask for.
 */
async function reauthenticate (deps: CallbackDeps, tx: Transaction, count: (outcome: LoginOutcome) => void, log: Logger): Promise<Redirect> {
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
