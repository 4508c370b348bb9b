import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PasskeyError } from '../src/backup/passkey-error.js'
import { OAuthError } from '../src/oidc/errors.js'
import { authorizationResponse } from '../src/oidc/redirect.js'
import { refusalSentence } from './backup/refusals.js'
import { sendPage } from './html.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Errors on this route are shown as an HTML page (browser-facing endpoints). */
    html?: boolean
    /** Errors on this route answer the gateway's own page script: JSON, and a redirect to the relying party as 200 `{ location }` for the script to follow. */
    script?: boolean
  }
}

/** Refusals of the admin API (admin port), by stable `error` code: the code's status. */
export const AdminErrorCodes = {
  unauthorized: 401,
  not_found: 404,
  invalid_policy: 400,
  invalid_fault: 400,
  invalid_params: 400,
  backup_login_off: 404,
  directory_unavailable: 503,
} as const

export type AdminErrorCode = keyof typeof AdminErrorCodes

/** One thing wrong with an admin request: a JSON pointer into its body (or its path parameters) and the rule it breaks. */
export interface AdminProblem { path: string, message: string }

/** An admin API refusal: a stable code, a description, and for invalid input every problem found. */
export class AdminError extends Error {
  readonly error: AdminErrorCode
  readonly status: number
  readonly problems: AdminProblem[] | undefined
  /** Seconds, for a refusal that will pass (503): sent as Retry-After. */
  readonly retryAfter: number | undefined

  constructor (error: AdminErrorCode, description: string, problems?: AdminProblem[], options: { retryAfter?: number, cause?: unknown } = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AdminError'
    this.error = error
    this.status = AdminErrorCodes[error]
    this.problems = problems
    this.retryAfter = options.retryAfter
  }

  /** `{error, error_description}` like every other error body, and `problems` when there are any. */
  toJSON (): { error: AdminErrorCode, error_description: string, problems?: AdminProblem[] } {
    return { error: this.error, error_description: this.message, ...(this.problems ? { problems: this.problems } : {}) }
  }
}

/**
 * The one place errors become HTTP: OAuth errors as a redirect to the relying
 * party (once its redirect_uri is validated), an HTML page on browser routes,
 * or RFC 6749 JSON; admin API refusals as their own JSON (AdminError); passkey
 * refusals as `passkey_refused` JSON with their reason, for the page to show;
 * anything unexpected as a generic 500 with the detail only in the log.
 */
export function installErrorHandler (app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | OAuthError | AdminError | Error, request, reply) => {
    if (error instanceof AdminError) {
      if (error.status >= 500) request.log.warn({ err: error.cause, error: error.error, description: error.message }, 'admin request failed')
      else request.log.info({ error: error.error, description: error.message }, 'admin request rejected')
      if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
      return reply.code(error.status).headers({ 'cache-control': 'no-store' }).send(error.toJSON())
    }
    if (error instanceof PasskeyError) {
      request.log.info({ error: 'passkey_refused', reason: error.reason }, 'request rejected')
      return reply.code(400).headers({ 'cache-control': 'no-store' }).send({ error: 'passkey_refused', reason: error.reason, message: refusalSentence(error.reason) })
    }
    const oauth = toOAuthError(error)
    if (!oauth) {
      request.log.error({ err: error }, 'unhandled error')
      return respond(request, reply, new OAuthError('server_error', 'the server encountered an unexpected condition'))
    }
    if (oauth.status >= 500) request.log.warn({ err: oauth, cause: oauth.cause }, 'request failed')
    else request.log.info({ error: oauth.error, description: oauth.message }, 'request rejected')
    return respond(request, reply, oauth)
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).header('cache-control', 'no-store').send({ error: 'not_found', error_description: `no route ${request.method} ${request.url.split('?')[0]}` })
  })
}

function respond (request: FastifyRequest, reply: FastifyReply, error: OAuthError): FastifyReply {
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
  if (error.redirect) {
    const location = authorizationResponse(error.redirect.redirectUri, request.server.gateway.config.issuer, error.redirect.state, { error: error.error, error_description: error.message })
    if (request.routeOptions.config?.script) return reply.code(200).header('cache-control', 'no-store').send({ location })
    return reply.header('cache-control', 'no-store').redirect(location, request.method === 'POST' ? 303 : 302)
  }
  if (request.routeOptions.config?.html) {
    const retry = error.retryAfter !== undefined ? [`Please try again in about ${error.retryAfter} seconds.`] : []
    return sendPage(reply, error.status, titleFor(error), [error.message, ...retry, `Error code: ${error.error}`])
  }
  if (error.challenge) {
    reply.header('www-authenticate', `${error.challenge} realm="understudy", error="${error.error}", error_description="${error.message.replace(/["\\]/g, '')}"`)
  }
  return sendJson(reply, error)
}

/**
 * Router errors Fastify raises before any route or error handler runs (a
 * malformed or over-long path): the same OAuth JSON as every other error,
 * without Fastify's own body, which echoes the path.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.log.info({ error: 'invalid_request', code: error.code }, 'request rejected')
  return sendJson(reply, new OAuthError('invalid_request', 'the request path is malformed or too long', { status: error.statusCode ?? 400 }))
}

function sendJson (reply: FastifyReply, error: OAuthError): FastifyReply {
  return reply.code(error.status).headers({ 'cache-control': 'no-store', pragma: 'no-cache' }).send(error.toJSON())
}

/** OAuth errors as they are; framework client errors (bad JSON, too large, wrong type) as invalid_request. */
function toOAuthError (error: unknown): OAuthError | undefined {
  if (error instanceof OAuthError) return error
  const status = (error as FastifyError).statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new OAuthError('invalid_request', (error as Error).message || 'malformed request', { status })
  }
  return undefined
}

function titleFor (error: OAuthError): string {
  if (error.status === 429) return 'Too many requests'
  switch (error.error) {
    case 'temporarily_unavailable': return 'Login is temporarily unavailable'
    case 'access_denied': return 'Login was not completed'
    default: return 'This login request cannot be completed'
  }
}
