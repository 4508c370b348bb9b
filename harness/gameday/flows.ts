import { randomBytes } from 'node:crypto'
import { pkcePair } from '../pkce.js'
import { backToSite, isOfferPage, isOutagePage, notNow, type OfferChoice } from './backup-flows.js'
import { authorizeUrl, backChannel, backendOf, Ended, gateway, redeem, run, submitLogin, tokens, upstream, type FlowContext, type FlowResult } from './flow-steps.js'
import type { RecordingBrowser } from './recording-browser.js'
import type { RelyingParty } from './setup.js'

const MAX_HOPS = 16

/**
 * A full first login: gateway, upstream login form, back through the gateway
 * (answering the offer page with `offer`: "Not now" unless told otherwise),
 * then the code for tokens. While the whole upstream is down the gateway
 * shows its outage page instead, and a user with no passkey goes back to the
 * site, which hears temporarily_unavailable.
 */
export async function firstLogin (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, user: string, offer: OfferChoice = notNow): Promise<FlowResult> {
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
      } else if (!region && isOfferPage(answer)) {
        answer = await offer(browser, answer)
      } else if (!region && isOutagePage(answer)) {
        answer = await backToSite(browser, answer)
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
