import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { accountLogin, accountView, addPasskey, passkeyRegistration, removePasskey, startLink, unlink } from '../../src/backup/account.js'
import { backToSite, continueAfterOffer, continueToUpstream, loginThroughLinked, passkeyLogin, passkeyLoginOptions } from '../../src/backup/page-actions.js'
import type { Redirect } from '../../src/oidc/answer.js'
import { browserProof } from '../../src/oidc/browser-proof.js'
import { readSession } from '../../src/oidc/session-cookie.js'
import type { Session } from '../../src/sessions/session.js'
import { applyCookies } from '../cookies.js'
import { formBody, sendOutcome } from '../oidc/authorize.js'
import { endpointDeps } from '../oidc/deps.js'
import { accountResult, sendAccountOff, sendAccountPage, type AccountPageResult } from './account-page.js'
import { PAGE_SCRIPT } from './page-script.js'
import { ACCOUNT_PROOF, BACKUP_PATHS as PATHS } from './paths.js'
import { changeOrUnavailable, directoryDown, jsonFields, provenSession } from './requests.js'

const HTML = { config: { html: true } }
const SCRIPT = { config: { script: true } }

/**
 * Backup login's HTTP surface (DESIGN §10), registered only when backup
 * login is on (GET /account then says there is no such page): the backup
 * pages' buttons, the account page and its changes, and the pages' scripts.
 * Forms answer with redirects, the page script's calls with JSON. Every
 * change to a person's methods carries the account page's browser proof.
 */
const backupRoutes: FastifyPluginAsync = async (app) => {
  const gw = app.gateway
  const backup = gw.backup
  if (backup === undefined) {
    app.get(PATHS.account, HTML, async (_request, reply) => sendAccountOff(reply))
    return
  }
  const deps = { ...endpointDeps(gw), backup }
  const issuer = gw.config.issuer
  const sessionCookie = (request: FastifyRequest) => request.cookies[gw.cookies.session]

  // Served by the gateway itself (no CDN): the pages allow scripts of their own origin only.
  const asset = (text: string | Buffer) => async (_request: FastifyRequest, reply: FastifyReply) =>
    reply.header('cache-control', 'public, max-age=300').type('text/javascript; charset=utf-8').send(text)
  app.get(PATHS.webauthnScript, asset(await readFile(webauthnBundle())))
  app.get(PATHS.pageScript, asset(PAGE_SCRIPT))

  /** Sends the browser on; a new upstream transaction spends the address's authorize budget first, as at /authorize. */
  const go = async (request: FastifyRequest, reply: FastifyReply, outcome: Redirect) => {
    if (outcome.upstream) await app.chargeUpstreamTransaction(request, reply)
    return sendOutcome(request, reply, outcome)
  }
  const json = (reply: FastifyReply, body: unknown, status = 200) => reply.code(status).header('cache-control', 'no-store').send(body)

  // The offer and outage pages' forms.
  // Leaving a page is counted (unavailable logins, the incident's impact) or written to the directory: each spends the authorize budget.
  app.post(PATHS.back, HTML, async (request, reply) => {
    await app.chargeUpstreamTransaction(request, reply)
    return backToSite(deps, formBody(request).context)
  })
  app.post(PATHS.upstream, HTML, async (request, reply) => go(request, reply, await continueToUpstream(deps, formBody(request).context, request.log)))
  app.post(PATHS.linked, HTML, async (request, reply) => {
    const { context, provider } = formBody(request)
    return go(request, reply, await loginThroughLinked(deps, context, provider, request.log))
  })
  app.post(PATHS.offerContinue, HTML, async (request, reply) => go(request, reply, await continueAfterOffer(deps, formBody(request).context, sessionCookie(request), request.log)))
  app.post(PATHS.offerDecline, HTML, async (request, reply) => {
    await app.chargeUpstreamTransaction(request, reply)
    return go(request, reply, await continueAfterOffer(deps, formBody(request).context, sessionCookie(request), request.log, true))
  })

  // The passkey login of the outage page: each attempt costs a directory read, so it spends the authorize budget.
  app.post(PATHS.passkeyLoginOptions, SCRIPT, async (request, reply) => json(reply, await passkeyLoginOptions(deps, jsonFields(request).context)))
  app.post(PATHS.passkeyLogin, SCRIPT, async (request, reply) => {
    await app.chargeUpstreamTransaction(request, reply)
    const { context, ceremony, response } = jsonFields(request)
    const outcome = await passkeyLogin(deps, context, ceremony, response, request.log)
    applyCookies(reply, gw, outcome.cookies)
    return json(reply, { location: outcome.location })
  })

  app.get(PATHS.account, HTML, async (request, reply) => {
    const result = accountResult((request.query as Record<string, unknown>).result)
    const cookie = sessionCookie(request)
    const session = await readSession(deps, cookie, request.log)
    if (cookie === undefined || session === undefined) return sendAccountPage(reply, issuer, { kind: 'login', providers: [...gw.upstreams.keys()], ...(result ? { result } : {}) })
    // Listing the methods reads the directory: it spends the authorize budget.
    await app.chargeUpstreamTransaction(request, reply)
    let view
    try {
      view = await accountView(deps, session, gw.now())
    } catch (err) {
      if (!directoryDown(err)) throw err
      request.log.warn({ err }, 'directory unavailable: the account page cannot list the login methods')
      return sendAccountPage(reply, issuer, { kind: 'unavailable' })
    }
    const csrf = browserProof(cookie, ACCOUNT_PROOF)
    return sendAccountPage(reply, issuer, { kind: 'methods', view, csrf, passkeys: backup.policy.passkeys, ...(result ? { result } : {}) })
  })
  app.post(PATHS.accountLogin, HTML, async (request, reply) => go(request, reply, await accountLogin(deps, formBody(request).provider, request.log)))
  app.post(PATHS.link, HTML, async (request, reply) => {
    const fields = formBody(request)
    const session = await provenSession(deps, request, gw.cookies.session, fields)
    return go(request, reply, await startLink(deps, session, fields.provider, request.log))
  })

  /** A change made by a form of the account page, and back to it saying how it went. */
  const change = async (request: FastifyRequest, reply: FastifyReply, made: (session: Session) => Promise<boolean>, done: AccountPageResult) => {
    const session = await provenSession(deps, request, gw.cookies.session, formBody(request))
    let result: AccountPageResult
    try {
      result = await made(session) ? done : 'unchanged'
    } catch (err) {
      if (!directoryDown(err)) throw err
      request.log.warn({ err }, 'directory unavailable: the login methods were not changed')
      result = 'unavailable'
    }
    return reply.header('cache-control', 'no-store').redirect(`${issuer}${PATHS.account}?result=${result}`, 303)
  }
  app.post<{ Params: { provider: string } }>(PATHS.unlink, HTML, async (request, reply) =>
    change(request, reply, (session) => unlink(deps, session, request.params.provider), 'unlinked'))
  app.post<{ Params: { id: string } }>(PATHS.removePasskey, HTML, async (request, reply) =>
    change(request, reply, (session) => removePasskey(deps, session, request.params.id), 'passkey-removed'))

  // Adding a passkey, from the account page or the offer page: the page script's calls.
  app.post(PATHS.registrationOptions, SCRIPT, async (request, reply) => {
    const session = await provenSession(deps, request, gw.cookies.session, jsonFields(request))
    return json(reply, await changeOrUnavailable(passkeyRegistration(deps, session), request.log))
  })
  app.post(PATHS.passkeys, SCRIPT, async (request, reply) => {
    const fields = jsonFields(request)
    const session = await provenSession(deps, request, gw.cookies.session, fields)
    const passkey = await changeOrUnavailable(addPasskey(deps, session, fields.ceremony, fields.response, request.headers['user-agent']), request.log)
    return json(reply, { passkey: { id: passkey.id, name: passkey.name } }, 201)
  })
}

/** @simplewebauthn/browser's UMD bundle, beside the package's entry point (its exports map does not list the bundle). */
function webauthnBundle (): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser')
  return join(dirname(dirname(entry)), 'dist', 'bundle', 'index.umd.min.js')
}

export default backupRoutes
