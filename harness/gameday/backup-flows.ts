import { randomBytes } from 'node:crypto'
import { dataOf, formWith, hasElement } from '../backup-pages.js'
import type { BrowserResponse } from '../browser.js'
import { pkcePair } from '../pkce.js'
import type { SoftwareAuthenticator } from '../software-authenticator.js'
import { authorizeUrl, backendOf, Ended, gateway, gatewayJson, redeem, run, type FlowContext, type FlowResult } from './flow-steps.js'
import type { RecordingBrowser } from './recording-browser.js'
import type { RelyingParty } from './setup.js'

/**
 * The synthetic users on the gateway's backup pages (DESIGN §10), doing what
 * the pages' script and buttons do: the offer after an upstream login, the
 * outage page of /authorize, and a passkey login from a new device.
 */

/** How a user answers the offer page; resolves with the gateway's answer (the redirect to the site). */
export type OfferChoice = (browser: RecordingBrowser, offer: BrowserResponse) => Promise<BrowserResponse>

/** The offer after an upstream login ("Add a passkey", "Not now"). */
export function isOfferPage (page: BrowserResponse): boolean {
  return page.status === 200 && hasElement(page.text, 'not-now')
}

/** The outage page of /authorize (a passkey, linked providers, "Back to <site>"). */
export function isOutagePage (page: BrowserResponse): boolean {
  return page.status === 200 && hasElement(page.text, 'back-to-site')
}

/** "Not now", as most people answer the offer. */
export const notNow: OfferChoice = async (browser, offer) => submitForm(browser, offer, 'not-now')

/** "Add a passkey", made by `authenticator` with the page's proof, then on to the site, as the page script does. */
export function addPasskey (authenticator: SoftwareAuthenticator): OfferChoice {
  return async (browser, offer) => {
    const button = dataOf(offer.text, 'add-passkey')
    const started = await gatewayJson(browser, button.options!, { csrf: button.csrf })
    if (started.answer.status !== 200) throw refused('passkey_options', started)
    const response = authenticator.register(started.body.options)
    const added = await gatewayJson(browser, button.submit!, { csrf: button.csrf, ceremony: started.body.ceremony, response })
    if (added.answer.status !== 201) throw refused('passkey_not_added', added)
    return submitForm(browser, offer, button.continue!)
  }
}

/** "Back to <site>" on the outage page: the site is told temporarily_unavailable. */
export async function backToSite (browser: RecordingBrowser, page: BrowserResponse): Promise<BrowserResponse> {
  return submitForm(browser, page, 'back-to-site')
}

/**
 * A user who added a passkey, on a new device (an empty cookie jar; the
 * passkey synced to it): the site's login, the outage page, the passkey,
 * and the code redeemed. Tokens for another `sub` are `wrong_user`. Told
 * that the passkey login is unavailable (the directory down), the user goes
 * back to the site, which hears temporarily_unavailable.
 */
export async function passkeyLogin (ctx: FlowContext, browser: RecordingBrowser, rp: RelyingParty, authenticator: SoftwareAuthenticator, expectedSub: string): Promise<FlowResult> {
  return run(browser, async () => {
    const pkce = pkcePair()
    const state = randomBytes(8).toString('base64url')
    const page = await gateway(browser, authorizeUrl(ctx.issuer, rp, state, pkce.challenge))
    if (!isOutagePage(page) || !hasElement(page.text, 'passkey-login')) {
      const to = page.location ? new URL(page.location) : undefined
      const where = to ? `sent to ${ctx.upstreamRegionOf(to) ? `upstream ${ctx.upstreamRegionOf(to)}` : to.host}` : `${page.status} at /authorize`
      throw new Ended({ outcome: 'error:no_passkey_offered', detail: where, ...backendOf(page) })
    }
    const button = dataOf(page.text, 'passkey-login')
    const started = await gatewayJson(browser, button.options!, { context: button.context })
    if (started.answer.status !== 200) throw refused('passkey_options', started)
    const response = authenticator.authenticate(started.body.options)
    const done = await gatewayJson(browser, button.submit!, { context: button.context, ceremony: started.body.ceremony, response }, { unavailable: true })
    if (done.answer.status === 503) {
      const back = await backToSite(browser, page)
      const told = back.location ? new URL(back.location).searchParams.get('error') : null
      throw new Ended({ outcome: told === 'temporarily_unavailable' ? told : `error:back_${told ?? back.status}`, detail: `passkey login: ${String(done.body.error_description)}`, ...backendOf(done.answer) })
    }
    if (done.answer.status !== 200 || typeof done.body.location !== 'string') throw refused('passkey_login', done)
    const result = await redeem(ctx, browser, rp, { ...done.answer, location: done.body.location }, state, pkce.verifier)
    return result.outcome === 'ok' && result.sub !== expectedSub ? { ...result, outcome: 'wrong_user', detail: `sub ${result.sub}, not ${expectedSub}` } : result
  })
}

/** Submits the page's form that has element `id`, without following the answer. */
async function submitForm (browser: RecordingBrowser, page: BrowserResponse, id: string): Promise<BrowserResponse> {
  const form = formWith(page.text, page.url, id)
  return gateway(browser, form.action, { method: form.method, body: form.fields })
}

/** A JSON call of the page script that the gateway refused, as the end of the flow. */
function refused (step: string, call: { answer: BrowserResponse, body: Record<string, any> }): Ended {
  const { error, reason, error_description: description } = call.body
  return new Ended({ outcome: `error:${typeof error === 'string' ? error : step}`, detail: `${step}: ${call.answer.status}${reason ? ` ${String(reason)}` : ''}${description ? ` (${String(description)})` : ''}`, ...backendOf(call.answer) })
}
