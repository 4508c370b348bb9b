import { PassThrough } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../src/cli/logger.js'
import { freeDemoPorts, LINKED_PROVIDER, startDemo } from '../../harness/demo/stack.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { until } from '../../harness/poll.js'
import { PAGE_SCRIPT } from '../../plugins/backup/page-script.js'
import { formWith, hasElement, runPageScript } from '../helpers/backup-http.js'
import { seedDirectoryPath } from '../helpers/pglite-template.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'

const out = new PassThrough()
const demo = await startDemo(createLogger({ level: 'silent' }), await freeDemoPorts(), out, seedDirectoryPath)
t.teardown(() => demo.close())
const banner = String(out.read())
const gatewayOrigin = new URL(demo.issuer).origin

/** The values the demo page shows for one ID token claim (each in its own <code>). */
function claim (page: BrowserResponse, name: string): string[] {
  const cell = new RegExp(`<td id="claim-${name}">([\\s\\S]*?)</td>`).exec(page.text)?.[1]
  if (cell === undefined) throw new Error(`the demo page shows no ${name}: ${page.text.slice(0, 300)}`)
  return [...cell.matchAll(/<code>([^<]*)<\/code>/g)].map((m) => m[1]!)
}

/** Submits the form whose button is `id` and follows it wherever it goes. */
async function press (browser: Browser, page: BrowserResponse, id: string): Promise<BrowserResponse> {
  const form = formWith(page.text, page.url, id)
  return browser.follow(form.action, { method: form.method, body: form.fields })
}

/** A sign-in form at one of the demo's providers, submitted as `login`, followed back through the gateway. */
async function signIn (browser: Browser, form: BrowserResponse, login: string): Promise<BrowserResponse> {
  return browser.submitForm(form.text, form.url, { login })
}

t.test('the banner says how to try backup login, with the account page', async (t) => {
  t.match(banner, `how you log in (account): ${demo.accountUrl}`)
  t.equal(demo.accountUrl, `${demo.issuer}/account`)
  t.match(banner, 'Try backup login')
  t.match(banner, 'stop both upstream regions')
  t.match(banner, 'Open a private window')
  t.match(banner, '"Log in with a passkey"')
  t.match(banner, `${LINKED_PROVIDER} (to link)`)
  t.match(banner, demo.linkedProviderUrl)
})

t.test('the README walk-through: a passkey added when offered logs the user in from a new browser while both upstream regions are down, with the same sub and acr backup', async (t) => {
  // A newcomer logs in at the demo site; after the upstream login the gateway offers a passkey, and the page script adds one.
  const browser = new Browser()
  const offer = await signIn(browser, await browser.follow(`${demo.siteUrl}login`, { method: 'POST' }), 'newcomer')
  t.same([offer.status, new URL(offer.url).pathname], [200, '/callback/demo'], 'the offer, at the gateway')
  t.match(offer.text, 'If demo is down, you can still log in with a passkey.')
  const authenticator = SoftwareAuthenticator.create('localhost', demo.issuer)
  const added = await runPageScript(PAGE_SCRIPT, offer, browser, authenticator).click('add-passkey')
  t.match(added.status, /^Your passkey was added\./)
  t.equal(added.submitted, 'offer-continue', 'on to the site')
  const home = await press(browser, offer, 'offer-continue')
  t.equal(home.url, demo.siteUrl)
  t.same(claim(home, 'acr'), ['urn:understudy:acr:upstream'])
  const [sub] = claim(home, 'sub')
  t.match(sub, /^.{8,}$/, 'the site shows the sub')
  t.match(home.text, `<a href="${demo.accountUrl}">how you log in</a>`, 'the site links the account page')

  // Still up: the account page lists the passkey, and links the second provider after a login there.
  const account = await browser.fetch(demo.accountUrl)
  t.match(account.text, /<li class="passkey"/)
  const linkForm = await press(browser, account, `link-${LINKED_PROVIDER}`)
  t.match(linkForm.url, demo.linkedProviderUrl, 'at the second provider\'s sign-in')
  t.match(linkForm.text, 'Naver-style demo provider sign-in')
  const linkedPage = await signIn(browser, linkForm, 'newcomer-at-naver')
  t.equal(linkedPage.url, `${demo.accountUrl}?result=linked`)

  // Both regions of the upstream stop, from the demo site.
  for (const region of demo.upstreamRegions) await browser.follow(`${demo.siteUrl}regions/${region.name}/toggle`, { method: 'POST' })
  const stopped = await browser.fetch(demo.siteUrl)
  t.match(stopped.text, /primary<\/b> <code>[^<]+<\/code> is <b>down<\/b>[\s\S]*secondary<\/b> <code>[^<]+<\/code> is <b>down<\/b>/)

  // A private window: no cookies. Once the gateway's health checks see both regions down, its login is the outage page.
  let outage: { browser: Browser, page: BrowserResponse } | undefined
  await until(async () => {
    const fresh = new Browser()
    const page = await fresh.follow(`${demo.siteUrl}login`, { method: 'POST', stopAt: (url) => url.origin !== gatewayOrigin })
    if (page.status === 200 && page.url.startsWith(`${demo.issuer}/authorize`)) outage = { browser: fresh, page }
    return outage
  }, 20_000, 'the gateway sees the demo upstream down')
  const { browser: privateWindow, page } = outage!
  t.match(page.text, 'demo is not answering right now')
  t.ok(hasElement(page.text, 'passkey-login'), 'a passkey button')
  t.match(page.text, `<button type="submit" id="linked-${LINKED_PROVIDER}">Log in with ${LINKED_PROVIDER}</button>`, 'the second provider, which is up')
  t.equal(privateWindow.cookies(demo.issuer).some((c) => c.name === 'understudy-session'), false, 'no gateway session in the private window')

  const run = await runPageScript(PAGE_SCRIPT, page, privateWindow, authenticator).click('passkey-login')
  t.match(run.assigned, `${demo.siteUrl}callback?`, 'the page script sends the browser back to the site')
  const back = await privateWindow.follow(run.assigned!)
  t.equal(back.url, demo.siteUrl)
  t.match(back.text, 'Logged in.')
  t.same(claim(back, 'sub'), [sub], 'the same sub')
  t.same(claim(back, 'acr'), ['urn:understudy:acr:backup'])
  t.match(back.text, /<td id="claim-acr">.*<small>the provider is down: you logged in with a passkey or a linked provider/, 'explained')
  t.same(claim(back, 'amr'), ['hwk', 'user'], 'a device-bound passkey, user verified')
  t.match(back.text, /<td id="claim-auth_time"><code>\d+<\/code><br><small>when you last authenticated [^<]+, \d+ s ago<\/small>/, 'auth_time, for people')

  // Another new browser logs in with the linked provider instead: the same person.
  const other = new Browser()
  const again = await other.follow(`${demo.siteUrl}login`, { method: 'POST' })
  t.match(again.text, 'demo is not answering right now')
  const naverForm = await press(other, again, `linked-${LINKED_PROVIDER}`)
  t.match(naverForm.url, demo.linkedProviderUrl)
  const viaNaver = await signIn(other, naverForm, 'newcomer-at-naver')
  t.equal(viaNaver.url, demo.siteUrl)
  t.same([claim(viaNaver, 'sub'), claim(viaNaver, 'acr'), claim(viaNaver, 'amr')], [[sub], ['urn:understudy:acr:backup'], ['fed']])
})
