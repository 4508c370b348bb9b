import type { BackupPage } from '../backup/page.js'
import type { Session } from '../sessions/session.js'
import type { AuthorizationRequest } from './authorization-request.js'
import { issueCode, type CodeDeps } from './code.js'
import type { ProviderRouter } from './deps.js'
import { OAuthError } from './errors.js'
import { authorizationResponse } from './redirect.js'

/** A cookie to set on the browser (maxAge 0 deletes it). */
export interface OutcomeCookie { name: string, value: string, maxAge: number }

/** A browser-facing result that sends the browser on: where, and the cookies to set. */
export interface Redirect {
  location: string
  cookies: OutcomeCookie[]
  /** The browser is sent to the upstream in a new transaction: what per-address rate limits charge (an SSO or cached answer costs the upstream nothing). */
  upstream?: true
  page?: never
}

/** A browser-facing result that is one of the gateway's own pages (backup login, DESIGN §10), and the cookies to set. */
export interface PageOutcome {
  page: BackupPage
  cookies: OutcomeCookie[]
  location?: never
  upstream?: never
}

/** What a browser-facing endpoint answers: a redirect, or a page of the gateway's own. */
export type BrowserOutcome = Redirect | PageOutcome

/** What answering the relying party with a code uses. */
export interface AnswerDeps extends CodeDeps {
  issuer: string
}

/** The redirect that answers the relying party with a code from this session. */
export function answerWithCode (deps: AnswerDeps, request: AuthorizationRequest, session: Session, acr: string): Redirect {
  const code = issueCode(deps, request, session, acr)
  return { location: authorizationResponse(request.redirectUri, deps.issuer, request.state, { code }), cookies: [] }
}

/**
 * temporarily_unavailable for a provider, with the seconds until its breakers
 * may let a trial through as Retry-After: read from the live policies (a
 * PATCH through the admin API changes them), the soonest region winning.
 */
export function providerUnavailable (router: ProviderRouter, cause: unknown): OAuthError {
  const retryAfter = Math.max(1, Math.ceil(Math.min(...router.lanes.map((lane) => lane.breaker.policy.resetTimeout))))
  return new OAuthError('temporarily_unavailable', 'the login provider is unavailable; try again shortly', { cause, retryAfter })
}

/**
 * temporarily_unavailable because the gateway is busy: the region already had
 * as many code exchanges in flight as it allows, so this one was not sent.
 * Nothing was learnt about the upstream (never a cached login); Retry-After 1,
 * as the calls in flight end within the breaker timeout.
 */
export function gatewayBusy (cause: unknown): OAuthError {
  return new OAuthError('temporarily_unavailable', 'the gateway is busy; try again shortly', { cause, retryAfter: 1 })
}
