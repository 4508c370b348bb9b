import { randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { readForm, type BrowserRequest, type BrowserResponse } from '../browser.js'
import { answeringBackend, NoAnswerError, type RecordingBrowser } from './recording-browser.js'
import type { RelyingParty } from './setup.js'

/**
 * The steps the game day's flows are made of: a request to the gateway or
 * to the upstream (with what a failure there means), the relying party's
 * side (the code redeemed, a back-channel call), and how a flow ends.
 */

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
  /** The ID token's acr on success: `…:upstream`, `…:cached` or `…:backup`. */
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

/** Thrown inside a flow to end it with an outcome. */
export class Ended extends Error {
  readonly result: FlowResult
  constructor (result: FlowResult) {
    super(result.outcome)
    this.result = result
  }
}

/** Runs a flow: an Ended is its result, anything else thrown an `error:<name>`; marks it when a process died under it. */
export async function run (browser: RecordingBrowser, flow: () => Promise<FlowResult>): Promise<FlowResult> {
  const dropped = browser.dropped
  let result: FlowResult
  try {
    result = await flow()
  } catch (err) {
    result = err instanceof Ended ? err.result : { outcome: `error:${(err as Error).name}`, detail: (err as Error).message }
  }
  return browser.dropped > dropped ? { ...result, caughtInCrash: true } : result
}

/** The code at the relying party's redirect, exchanged for tokens (or the error the relying party was sent). */
export async function redeem (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, landed: BrowserResponse, state: string, verifier: string): Promise<FlowResult> {
  const params = new URL(landed.location!).searchParams
  const error = params.get('error')
  if (error) throw new Ended({ outcome: error === 'temporarily_unavailable' ? error : `error:${error}`, ...backendOf(landed) })
  if (params.get('state') !== state || params.get('iss') !== ctx.issuer) throw new Ended({ outcome: 'error:bad_authorization_response' })
  const answer = await backChannel(ctx, browser, rp, '/token', { grant_type: 'authorization_code', code: params.get('code') ?? '', redirect_uri: rp.redirectUri, code_verifier: verifier })
  return tokens(answer, 'error:invalid_grant')
}

/** A token endpoint's answer as a flow result; `invalid_grant` becomes `onInvalidGrant`. */
export function tokens (answer: BrowserResponse, onInvalidGrant: Outcome): FlowResult {
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

/** A relying party's back-channel call (client authentication as the client is registered). */
export async function backChannel (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, path: string, form: Record<string, string>): Promise<BrowserResponse> {
  const headers: Record<string, string> = {}
  if (rp.clientSecret) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.clientSecret)}`).toString('base64')}`
  else form = { ...form, client_id: rp.clientId }
  return gateway(browser, `${ctx.issuer}${path}`, { method: 'POST', body: new URLSearchParams(form), headers })
}

/**
 * A request to the gateway: 5xx and silence end the flow. With `unavailable`,
 * a 503 whose JSON says `temporarily_unavailable` is returned for the flow to
 * read (a passkey login while the directory is down answers so).
 */
export async function gateway (browser: RecordingBrowser, url: string, init: BrowserRequest = {}, options: { unavailable?: boolean } = {}): Promise<BrowserResponse> {
  let answer: BrowserResponse
  try {
    answer = await browser.fetch(url, init)
  } catch (err) {
    if (err instanceof NoAnswerError) throw new Ended({ outcome: 'no_answer', detail: err.message })
    throw err
  }
  if (options.unavailable === true && answer.status === 503 && jsonOf(answer).error === 'temporarily_unavailable') return answer
  if (answer.status >= 500) throw new Ended({ outcome: 'http5xx', detail: `${answer.status} at ${new URL(url).pathname}`, ...backendOf(answer) })
  return answer
}

/** A call of the backup pages' script to the gateway: JSON in, the answer and its JSON body out (see `gateway` for `unavailable`). */
export async function gatewayJson (browser: RecordingBrowser, url: string, body: unknown, options: { unavailable?: boolean } = {}): Promise<{ answer: BrowserResponse, body: Record<string, any> }> {
  const answer = await gateway(browser, url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }, options)
  return { answer, body: jsonOf(answer) }
}

/** A request to the upstream: any failure there is the upstream's. */
export async function upstream (browser: RecordingBrowser, url: string, region: string, init: BrowserRequest = {}): Promise<BrowserResponse> {
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
export async function submitLogin (browser: RecordingBrowser, page: BrowserResponse, user: string, region: string): Promise<BrowserResponse> {
  const form = readForm(page.text, page.url)
  if (!form) throw new Ended({ outcome: 'upstream_failed', upstreamRegion: region, detail: 'no login form' })
  form.fields.set('login', user)
  return upstream(browser, form.action, region, { method: form.method, body: form.fields })
}

/** A relying party's authorization request (code flow, PKCE S256). */
export function authorizeUrl (issuer: string, rp: RelyingParty, state: string, challenge: string): string {
  const url = new URL(`${issuer}/authorize`)
  url.search = new URLSearchParams({ client_id: rp.clientId, redirect_uri: rp.redirectUri, response_type: 'code', scope: 'openid profile email', state, nonce: randomBytes(8).toString('base64url'), code_challenge: challenge, code_challenge_method: 'S256' }).toString()
  return url.href
}

export function backendOf (answer: BrowserResponse): { backend?: string } {
  const backend = answeringBackend(answer)
  return backend ? { backend } : {}
}

function jsonOf (answer: BrowserResponse): Record<string, any> {
  try {
    const body: unknown = JSON.parse(answer.text)
    return typeof body === 'object' && body !== null ? body as Record<string, any> : {}
  } catch {
    return {}
  }
}
