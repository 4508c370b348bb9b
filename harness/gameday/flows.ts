import { randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { pkcePair } from '../pkce.js'
import { readForm, type BrowserRequest, type BrowserResponse } from '../browser.js'
import { answeringBackend, NoAnswerError, type RecordingBrowser } from './recording-browser.js'
import type { RelyingParty } from './setup.js'

/**
 * How one synthetic operation ended:
 * - `ok`: the relying party got its tokens;
 * - `temporarily_unavailable` (or another OAuth `error`, as `error:<code>`): the relying party was told so;
 * - `upstream_failed`: the browser could not use the upstream page the gateway sent it to;
 * - `session_lost`: a returning user's session or refresh token was not honoured;
 * - `wrong_user`: tokens came back for another subject;
 * - `http5xx` / `no_answer`: the gateway (through the load balancer) answered 5xx, or nothing answered.
 */
export type Outcome = 'ok' | 'temporarily_unavailable' | 'upstream_failed' | 'session_lost' | 'wrong_user' | 'http5xx' | 'no_answer' | `error:${string}`

export interface FlowResult {
  outcome: Outcome
  /** The ID token's acr on success: `…:upstream` or `…:cached`. */
  acr?: string
  sub?: string
  refreshToken?: string
  idToken?: string
  /** The gateway region that answered the last gateway request. */
  backend?: string
  /** The upstream region the browser was sent to (new logins). */
  upstreamRegion?: string
  /** One of its requests was inside a gateway process when that process was killed. */
  caughtInCrash?: true
  detail?: string
}

export interface FlowContext {
  issuer: string
  /** The upstream region behind a URL the gateway sent the browser to, if any. */
  upstreamRegionOf: (url: URL) => string | undefined
}

const MAX_HOPS = 16

/** Thrown inside a flow to end it with an outcome. */
class Ended extends Error {
  constructor (readonly result: FlowResult) { super(result.outcome) }
}

/** A full first login: gateway, upstream login form, back through the gateway, then the code for tokens. */
export async function firstLogin (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, user: string): Promise<FlowResult> {
  return run(browser, async () => {
    const pkce = pkcePair()
    const state = randomBytes(8).toString('base64url')
    let answer = await gateway(browser, authorizeUrl(ctx.issuer, rp, state, pkce.challenge))
    let upstreamRegion: string | undefined
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      if (answer.location?.startsWith(rp.redirectUri)) {
        const result = await redeem(ctx, browser, rp, answer, state, pkce.verifier)
        return { ...result, ...(upstreamRegion ? { upstreamRegion } : {}) }
      }
      const next = answer.location ? new URL(answer.location) : undefined
      const region = next ? ctx.upstreamRegionOf(next) : ctx.upstreamRegionOf(new URL(answer.url))
      if (region) upstreamRegion = region
      if (next && answer.status >= 300 && answer.status < 400) {
        answer = region ? await upstream(browser, next.href, region) : await gateway(browser, next.href)
      } else if (region && answer.status === 200 && answer.text.includes('<form')) {
        answer = await submitLogin(browser, answer, user, region)
      } else {
        throw new Ended({ outcome: region ? 'upstream_failed' : `error:page_${answer.status}`, detail: `${answer.status} at ${new URL(answer.url).pathname}`, ...(region ? { upstreamRegion: region } : {}) })
      }
    }
    throw new Ended({ outcome: 'error:too_many_redirects' })
  })
}

/** A returning user at a relying party: the gateway must answer from the session cookie, without the upstream. */
export async function ssoLogin (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, expectedSub: string): Promise<FlowResult> {
  return run(browser, async () => {
    const pkce = pkcePair()
    const state = randomBytes(8).toString('base64url')
    const answer = await gateway(browser, authorizeUrl(ctx.issuer, rp, state, pkce.challenge))
    if (!answer.location?.startsWith(rp.redirectUri)) throw new Ended({ outcome: 'session_lost', detail: `sent to ${answer.location ? new URL(answer.location).host : answer.status}`, ...backendOf(answer) })
    const result = await redeem(ctx, browser, rp, answer, state, pkce.verifier)
    if (result.outcome === 'ok' && result.sub !== expectedSub) return { ...result, outcome: 'wrong_user' }
    return result
  })
}

/** A refresh grant; `invalid_grant` for a returning user is a lost session. */
export async function refresh (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, refreshToken: string, expectedSub: string): Promise<FlowResult> {
  return run(browser, async () => {
    const answer = await backChannel(ctx, browser, rp, '/token', { grant_type: 'refresh_token', refresh_token: refreshToken })
    const result = tokens(answer, 'session_lost')
    if (result.outcome === 'ok' && result.sub !== expectedSub) return { ...result, outcome: 'wrong_user' }
    return result
  })
}

/** RFC 7009 revocation of a refresh token (its whole family). */
export async function revokeRefreshToken (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, refreshToken: string): Promise<FlowResult> {
  return run(browser, async () => {
    const answer = await backChannel(ctx, browser, rp, '/revoke', { token: refreshToken, token_type_hint: 'refresh_token' })
    return { outcome: answer.status === 200 ? 'ok' : `error:revoke_${answer.status}`, ...backendOf(answer) }
  })
}

/** RP-initiated logout with an ID token hint: ends the session everywhere, and its refresh tokens. */
export async function logout (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, idToken: string): Promise<FlowResult> {
  return run(browser, async () => {
    const url = new URL(`${ctx.issuer}/logout`)
    url.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: rp.postLogoutRedirectUri, state: 'bye' }).toString()
    const answer = await gateway(browser, url.href)
    return { outcome: answer.location?.startsWith(rp.postLogoutRedirectUri) ? 'ok' : `error:logout_${answer.status}`, ...backendOf(answer) }
  })
}

/** The code at the relying party's redirect, exchanged for tokens (or the error the relying party was sent). */
async function redeem (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, landed: BrowserResponse, state: string, verifier: string): Promise<FlowResult> {
  const params = new URL(landed.location!).searchParams
  const error = params.get('error')
  if (error) throw new Ended({ outcome: error === 'temporarily_unavailable' ? error : `error:${error}`, ...backendOf(landed) })
  if (params.get('state') !== state || params.get('iss') !== ctx.issuer) throw new Ended({ outcome: 'error:bad_authorization_response' })
  const answer = await backChannel(ctx, browser, rp, '/token', { grant_type: 'authorization_code', code: params.get('code') ?? '', redirect_uri: rp.redirectUri, code_verifier: verifier })
  return tokens(answer, 'error:invalid_grant')
}

function tokens (answer: BrowserResponse, onInvalidGrant: Outcome): FlowResult {
  const backend = backendOf(answer)
  if (answer.status >= 500) return { outcome: 'http5xx', detail: `${answer.status} from the token endpoint`, ...backend }
  let body: Record<string, string> = {}
  try {
    body = JSON.parse(answer.text) as Record<string, string>
  } catch {}
  if (answer.status !== 200) return { outcome: body.error === 'invalid_grant' ? onInvalidGrant : `error:${body.error ?? answer.status}`, detail: body.error_description, ...backend }
  const claims = decodeJwt(body.id_token ?? '')
  return { outcome: 'ok', acr: String(claims.acr), sub: String(claims.sub), refreshToken: body.refresh_token, idToken: body.id_token, ...backend }
}

async function backChannel (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, path: string, form: Record<string, string>): Promise<BrowserResponse> {
  const headers: Record<string, string> = {}
  if (rp.clientSecret) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.clientSecret)}`).toString('base64')}`
  else form = { ...form, client_id: rp.clientId }
  return gateway(browser, `${ctx.issuer}${path}`, { method: 'POST', body: new URLSearchParams(form), headers })
}

/** A request to the gateway: 5xx and silence end the flow. */
async function gateway (browser: RecordingBrowser, url: string, init: BrowserRequest = {}): Promise<BrowserResponse> {
  let answer: BrowserResponse
  try {
    answer = await browser.fetch(url, init)
  } catch (err) {
    if (err instanceof NoAnswerError) throw new Ended({ outcome: 'no_answer', detail: err.message })
    throw err
  }
  if (answer.status >= 500) throw new Ended({ outcome: 'http5xx', detail: `${answer.status} at ${new URL(url).pathname}`, ...backendOf(answer) })
  return answer
}

/** A request to the upstream: any failure there is the upstream's. */
async function upstream (browser: RecordingBrowser, url: string, region: string, init: BrowserRequest = {}): Promise<BrowserResponse> {
  try {
    const answer = await browser.fetch(url, init)
    if (answer.status >= 400) throw new Ended({ outcome: 'upstream_failed', upstreamRegion: region, detail: `${answer.status} at the upstream` })
    return answer
  } catch (err) {
    if (err instanceof NoAnswerError) throw new Ended({ outcome: 'upstream_failed', upstreamRegion: region, detail: err.message })
    throw err
  }
}

/** Submits the upstream's login form as `user`. */
async function submitLogin (browser: RecordingBrowser, page: BrowserResponse, user: string, region: string): Promise<BrowserResponse> {
  const form = readForm(page.text, page.url)
  if (!form) throw new Ended({ outcome: 'upstream_failed', upstreamRegion: region, detail: 'no login form' })
  form.fields.set('login', user)
  return upstream(browser, form.action, region, { method: form.method, body: form.fields })
}

function authorizeUrl (issuer: string, rp: RelyingParty, state: string, challenge: string): string {
  const url = new URL(`${issuer}/authorize`)
  url.search = new URLSearchParams({ client_id: rp.clientId, redirect_uri: rp.redirectUri, response_type: 'code', scope: 'openid profile email', state, nonce: randomBytes(8).toString('base64url'), code_challenge: challenge, code_challenge_method: 'S256' }).toString()
  return url.href
}

function backendOf (answer: BrowserResponse): { backend?: string } {
  const backend = answeringBackend(answer)
  return backend ? { backend } : {}
}

async function run (browser: RecordingBrowser, flow: () => Promise<FlowResult>): Promise<FlowResult> {
  const dropped = browser.dropped
  let result: FlowResult
  try {
    result = await flow()
  } catch (err) {
    result = err instanceof Ended ? err.result : { outcome: `error:${(err as Error).name}`, detail: (err as Error).message }
  }
  return browser.dropped > dropped ? { ...result, caughtInCrash: true } : result
}
