import { outagePage, type OutagePageDeps } from '../backup/outage.js'
import type { Logger } from '../log.js'
import type { LoginOutcome } from '../observability/metrics.js'
import { ACR_CACHED } from '../sessions/freshness.js'
import { answerWithCode, type AnswerDeps, type BrowserOutcome } from './answer.js'
import { redirectTarget, validateAuthorizationRequest } from './authorization-request.js'
import type { ClientRegistry } from './clients.js'
import type { LoginRecorder } from './deps.js'
import { OAuthError } from './errors.js'
import { Params, type RawParams } from './params.js'
import { readSession, type SessionReadDeps } from './session-cookie.js'
import { freshAcr, sessionStanding } from './session-standing.js'
import { verifyIdTokenHint } from './tokens.js'
import { startUpstreamLogin, type UpstreamLoginDeps } from './upstream-login.js'

/** What the authorization endpoint uses. */
export interface AuthorizeDeps extends AnswerDeps, SessionReadDeps, UpstreamLoginDeps, OutagePageDeps {
  clients: Pick<ClientRegistry, 'get'>
  recordLogin: LoginRecorder
}

/**
 * The authorization endpoint: validates the request, then answers from the
 * session when it may (SSO while fresh; a cached login while the upstream is
 * unavailable), or sends the browser to the upstream.
 */
export async function authorize (deps: AuthorizeDeps, raw: RawParams, sessionCookie: string | undefined, log: Logger): Promise<BrowserOutcome> {
  const request = validateAuthorizationRequest(deps, new Params(raw))
  const client = deps.clients.get(request.clientId)!
  const router = deps.upstreams.get(request.provider)!
  const count = (outcome: LoginOutcome) => deps.recordLogin(client.clientId, request.provider, outcome)
  try {
    const hint = new Params(raw).get('id_token_hint')
    if (hint !== undefined) request.hintSub = (await verifyIdTokenHint(deps.keys, deps.issuer, hint)).sub!
    const session = await readSession(deps, sessionCookie, log)
    const standing = sessionStanding(client.freshness, request, session, deps.now())
    if (standing === 'fresh') {
      count('sso')
      return answerWithCode(deps, request, session!, freshAcr(session!))
    }
    if (standing === 'outage-only' && !router.available()) {
      count('cached')
      return answerWithCode(deps, request, session!, ACR_CACHED)
    }
    if (request.prompt.includes('none')) throw new OAuthError('login_required', 'the user is not logged in, or the login is not fresh enough')
    // A passkey offered beside the upstream while it is up: a choice, shown only when asked for (passkeyWhenHealthy).
    if (deps.backup?.policy.passkeyWhenHealthy === true && !request.prompt.includes('login')) {
      const choice = outagePage(deps, request, client, false)
      if (choice !== undefined) return choice
    }
    try {
      return await startUpstreamLogin(deps, request, log)
    } catch (err) {
      if (!(err instanceof OAuthError) || err.error !== 'temporarily_unavailable') throw err
      if (standing === 'outage-only') {
        count('cached')
        return answerWithCode(deps, request, session!, ACR_CACHED)
      }
      // Nobody the gateway can vouch for from a cookie: the backup methods, when there are any; the page counts what the user picks.
      const page = outagePage(deps, request, client, true)
      if (page !== undefined) return page
      count('unavailable')
      throw err
    }
  } catch (err) {
    if (err instanceof OAuthError) throw err.redirectTo(redirectTarget(request))
    throw err
  }
}
