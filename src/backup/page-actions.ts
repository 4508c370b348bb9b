import { isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { LoginOutcome } from '../observability/metrics.js'
import { answerWithCode, type AnswerDeps, type Redirect } from '../oidc/answer.js'
import { redirectTarget, type AuthorizationRequest } from '../oidc/authorization-request.js'
import type { Client, ClientRegistry } from '../oidc/clients.js'
import type { LoginRecorder } from '../oidc/deps.js'
import { OAuthError } from '../oidc/errors.js'
import { readSession, sealSession, type SessionReadDeps, type SessionSealDeps } from '../oidc/session-cookie.js'
import type { Transaction } from '../oidc/transaction.js'
import { reauthenticateUpFront } from '../oidc/fresh-authentication.js'
import { startUpstreamLogin, visitUpstream, type UpstreamLoginDeps } from '../oidc/upstream-login.js'
import { ACR_BACKUP, ACR_UPSTREAM } from '../sessions/freshness.js'
import { randomId } from '../sessions/random.js'
import type { CookieNames, Session } from '../sessions/session.js'
import { checkBackupAnswer } from './answer.js'
import type { BackupDeps } from './deps.js'
import { passkeyMethodId } from './method-id.js'
import { BACKUP_CONTEXT_LIFETIME, openBackupContext, type BackupContext } from './page.js'
import { PasskeyError } from './passkey-error.js'
import { authenticationOptions, verifyAuthentication } from './passkeys.js'

/** What the buttons of the backup pages (offer, outage) use. */
export interface PageActionDeps extends AnswerDeps, SessionReadDeps, SessionSealDeps, UpstreamLoginDeps {
  cookies: Pick<CookieNames, 'session' | 'transaction'>
  clients: Pick<ClientRegistry, 'get'>
  recordLogin: LoginRecorder
  backup: BackupDeps
}

/** A page's context opened, with its client: a forged, foreign or expired one is an error page, never a redirect. */
function opened (deps: PageActionDeps, sealed: unknown): BackupContext & { client: Client } {
  let context: BackupContext
  try {
    context = openBackupContext(deps.keys, String(sealed ?? ''), deps.now())
  } catch (err) {
    throw new OAuthError('invalid_request', 'this page has expired; start the login again from the site', { cause: err })
  }
  const client = deps.clients.get(context.request.clientId)
  if (client === undefined) throw new OAuthError('invalid_request', 'this site is no longer configured here')
  return { ...context, client }
}

/** Errors after the context opened go back to the relying party, with its state. */
function toSite (request: AuthorizationRequest, err: unknown): unknown {
  return err instanceof OAuthError ? err.redirectTo(redirectTarget(request)) : err
}

function counter (deps: PageActionDeps, request: AuthorizationRequest): (outcome: LoginOutcome) => void {
  return (outcome) => deps.recordLogin(request.clientId, request.provider, outcome)
}

/** "Back to the site" on the outage page: `temporarily_unavailable` to the relying party, as without backup login. */
export function backToSite (deps: PageActionDeps, sealed: unknown): never {
  const { request } = opened(deps, sealed)
  counter(deps, request)('unavailable')
  throw new OAuthError('temporarily_unavailable', 'the login provider is unavailable; try again shortly').redirectTo(redirectTarget(request))
}

/** "Continue with <provider>" on the choice page (passkeyWhenHealthy): the upstream login the request would have started. */
export async function continueToUpstream (deps: PageActionDeps, sealed: unknown, log: Logger): Promise<Redirect> {
  const { request } = opened(deps, sealed)
  return startUpstreamLogin(deps, request, log).catch((err: unknown) => { throw toSite(request, err) })
}

/** A linked provider's button on the outage page: a login there, whose identity the directory maps to its person at the callback. */
export async function loginThroughLinked (deps: PageActionDeps, sealed: unknown, provider: unknown, log: Logger): Promise<Redirect> {
  const { request, down } = opened(deps, sealed)
  const id = String(provider ?? '')
  try {
    if (!deps.backup.policy.linkedProviders) throw new OAuthError('invalid_request', 'backup login through another provider is not enabled')
    // A linked provider stands in for the user's own only while that one is down: the choice page of a healthy provider offers none.
    if (down !== true) throw new OAuthError('invalid_request', 'the site\'s provider was not down when this page was shown; log in there')
    if (id === request.provider || !deps.upstreams.has(id)) throw new OAuthError('invalid_request', 'not a provider this login can go through')
    const kind = deps.providers.find((p) => p.id === id)!.kind
    // Asked as the site asked: its prompt=login or max_age holds at the provider standing in (checked again at the callback).
    return await visitUpstream<Transaction>(deps, id, { request, backup: true }, {
      reauthenticate: reauthenticateUpFront(request, kind),
      ...(request.maxAge !== undefined ? { maxAge: request.maxAge } : {}),
    }, log)
  } catch (err) {
    throw toSite(request, err)
  }
}

/**
 * Whether a page's context may start a passkey login: the outage page of a
 * provider that was down, or the choice page passkeyWhenHealthy shows (never
 * for prompt=login, which asks for the provider itself); never the offer
 * page's, which continues an upstream login.
 */
function passkeyAllowed (deps: PageActionDeps, context: BackupContext): void {
  if (!deps.backup.policy.passkeys) throw new OAuthError('invalid_request', 'passkeys are not enabled')
  const offered = context.down === true || (deps.backup.policy.passkeyWhenHealthy && !context.request.prompt.includes('login'))
  if (context.sid !== undefined || !offered) throw new OAuthError('invalid_request', 'this page does not offer a passkey login; start again from the site')
}

/** Starts a passkey login from a backup page: WebAuthn options for navigator.credentials.get, and the sealed ceremony. */
export async function passkeyLoginOptions (deps: PageActionDeps, sealed: unknown): ReturnType<typeof authenticationOptions> {
  passkeyAllowed(deps, opened(deps, sealed))
  return authenticationOptions({ ...deps, rp: deps.backup.rp })
}

/**
 * A passkey login: the response verified against the passkey the directory
 * holds, the counter recorded (a regression is refused and logged at error:
 * the key may have been cloned), and the relying party answered with the
 * person's usual `sub`, acr backup. A refusal is a PasskeyError for the page
 * to show (the user may try again); a directory that cannot answer is
 * temporarily_unavailable.
 */
export async function passkeyLogin (deps: PageActionDeps, sealed: unknown, ceremony: unknown, response: unknown, log: Logger): Promise<Redirect> {
  const context = opened(deps, sealed)
  passkeyAllowed(deps, context)
  const { request, client } = context
  const count = counter(deps, request)
  const { directory } = deps.backup
  let login
  try {
    login = await verifyAuthentication({ ...deps, rp: deps.backup.rp }, ceremony, response, (id) => directory.passkey(id))
  } catch (err) {
    if (err instanceof PasskeyError) {
      if (err.reason === 'counter') log.error({ err, reason: err.reason }, 'passkey signature counter went backwards: the passkey may have been cloned; login refused')
      else log.info({ reason: err.reason }, 'passkey login refused')
      throw err
    }
    if (!isUnderstudyError(err)) throw err
    log.warn({ err }, 'directory unavailable: a passkey login cannot be completed')
    count('unavailable')
    throw new OAuthError('temporarily_unavailable', 'passkey login is unavailable right now; try again shortly', { cause: err })
  }
  const recorded = await directory.recordPasskeyUse(login.passkey.id, login.newCounter, deps.now()).catch((err: unknown) => {
    // A region whose primary is gone logs people in from its replica: the counter update is skipped, and said so. Nothing else is.
    if (!isUnderstudyError(err, 'US_ERR_DIRECTORY_UNAVAILABLE')) throw err
    log.warn({ err }, 'the passkey\'s use could not be recorded (directory primary unreachable); login goes on')
    return true
  })
  if (!recorded) {
    log.error({ reason: 'counter' }, 'passkey signature counter did not move forward: the passkey may have been cloned; login refused')
    throw new PasskeyError('counter', 'the signature counter did not move forward')
  }
  const now = deps.now()
  const session: Session = {
    sid: randomId(),
    sub: login.person.sub,
    provider: login.person.provider,
    upstreamSub: login.person.upstreamSub,
    claims: {},
    authTime: now,
    amr: login.amr,
    vouchedAt: now,
    backup: { method: 'passkey', id: passkeyMethodId(login.passkey) },
  }
  try {
    checkBackupAnswer(client, request, session)
  } catch (err) {
    count('error')
    throw toSite(request, err)
  }
  deps.recordLogin(request.clientId, request.provider, 'backup', 'passkey')
  log.info({ provider: session.provider, client: request.clientId }, 'backup login with a passkey')
  const cookie = { name: deps.cookies.session, ...await sealSession(deps, session) }
  return { ...answerWithCode(deps, request, session, ACR_BACKUP), cookies: [cookie] }
}

/**
 * Leaving the offer page ("Not now", or after adding a passkey): the answer
 * the upstream login earned, issued now from the session it made in this
 * browser, and only from it.
 */
export async function continueAfterOffer (deps: PageActionDeps, sealed: unknown, sessionCookie: string | undefined, log: Logger, decline = false): Promise<Redirect> {
  const { request, sid } = opened(deps, sealed)
  const session = await readSession(deps, sessionCookie, log)
  try {
    if (session === undefined || sid === undefined || session.sid !== sid) throw new OAuthError('login_required', 'the login that led here has ended in this browser; start again from the site')
    if (decline) {
      const { directory } = deps.backup
      const until = deps.now() + deps.backup.policy.offerEvery
      // The person is recorded with their primary identity on their first answer to the offer.
      await directory.ensurePerson({ sub: session.sub, provider: session.provider, upstreamSub: session.upstreamSub, createdAt: deps.now() })
        .then(() => directory.declineOffer(session.sub, until)).catch((err: unknown) => {
        log.warn({ err }, 'directory unavailable: "Not now" is not remembered, the offer may come again')
      })
    }
    // The callback already held the upstream login to the request's prompt and max_age; the offer's own visit is bounded by its page.
    if (session.backup !== undefined || deps.now() - session.vouchedAt > BACKUP_CONTEXT_LIFETIME) throw new OAuthError('login_required', 'the login is no longer fresh enough for this site; start again from the site')
  } catch (err) {
    throw toSite(request, err)
  }
  return answerWithCode(deps, request, session, ACR_UPSTREAM)
}
