import type { FastifyRequest } from 'fastify'
import { isUnderstudyError } from '../../src/errors.js'
import type { Logger } from '../../src/log.js'
import { browserProof, proofMatches } from '../../src/oidc/browser-proof.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { readSession, type SessionReadDeps } from '../../src/oidc/session-cookie.js'
import type { Session } from '../../src/sessions/session.js'
import { ACCOUNT_PROOF } from './paths.js'

/** The JSON object the page script sends; anything else is refused (415, 400) before it reaches the core. */
export function jsonFields (request: FastifyRequest): Record<string, unknown> {
  const type = request.headers['content-type'] ?? ''
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new OAuthError('invalid_request', 'the request body must be application/json', { status: 415 })
  const body: unknown = request.body
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OAuthError('invalid_request', 'the request body must be a JSON object')
  return body as Record<string, unknown>
}

/**
 * The session of an account-page request that proves it comes from the
 * gateway's own page in this browser (`csrf`, derived from the session
 * cookie): 403 without the proof, login_required when the session has ended.
 */
export async function provenSession (deps: SessionReadDeps, request: FastifyRequest, cookieName: string, fields: Record<string, unknown>): Promise<Session> {
  const cookie = request.cookies[cookieName]
  if (cookie === undefined || !proofMatches(fields.csrf, browserProof(cookie, ACCOUNT_PROOF))) {
    throw new OAuthError('invalid_request', 'this request did not come from your account page in this browser; open the page again', { status: 403 })
  }
  const session = await readSession(deps, cookie, request.log)
  if (session === undefined) throw new OAuthError('login_required', 'you are no longer logged in here; open the account page again')
  return session
}

/** Whether `err` is the directory failing to answer (the only trouble an account change may meet besides a refusal). */
export function directoryDown (err: unknown): boolean {
  return isUnderstudyError(err, 'US_ERR_DIRECTORY_UNAVAILABLE')
}

/** An account change for the page script: a directory that cannot answer is temporarily_unavailable (only this change fails). */
export async function changeOrUnavailable<T> (change: Promise<T>, log: Logger): Promise<T> {
  try {
    return await change
  } catch (err) {
    if (!directoryDown(err)) throw err
    log.warn({ err }, 'directory unavailable: the login methods were not changed')
    throw new OAuthError('temporarily_unavailable', 'your ways to log in cannot be changed right now; please try again in a few minutes', { cause: err })
  }
}
