import { createServer } from 'node:net'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../src/cli/logger.js'
import { freeDemoPorts, startDemo } from '../../harness/demo/stack.js'
import { Browser } from '../../harness/browser.js'
import { formWith } from '../helpers/backup-http.js'
import { seedDirectoryPath } from '../helpers/pglite-template.js'

/** Past the gateway's passkey offer, which follows a first upstream login: "Not now", on to the site. */
async function notNow (browser: Browser, offer: Awaited<ReturnType<Browser['follow']>>): ReturnType<Browser['follow']> {
  const form = formWith(offer.text, offer.url, 'not-now')
  return browser.follow(form.action, { method: 'POST', body: form.fields })
}

t.test('the demo stack logs a user in through the gateway and shows the truth of the ID token', async (t) => {
  const out = new PassThrough()
  const ports = await freeDemoPorts()
  const demo = await startDemo(createLogger({ level: 'silent' }), ports, out, seedDirectoryPath)
  t.match(String(out.read()), /demo site \(log in here\): +http:\/\/localhost:\d+\//, 'it prints the URLs')
  t.teardown(() => demo.close())
  t.equal(demo.upstreamRegions.length, 2, 'the demo upstream has two regions')
  t.equal(demo.issuer, `http://localhost:${ports.gateway}`, 'the issuer is a domain name, as WebAuthn needs')
  t.equal(demo.siteUrl, `http://localhost:${ports.site}/`, 'the site is on the same host name as the gateway')

  const browser = new Browser()
  const home = await browser.fetch(demo.siteUrl)
  t.match(home.text, /not logged in/)
  const loginForm = await browser.follow(`${demo.siteUrl}login`, { method: 'POST' })
  t.equal(loginForm.status, 200)
  t.match(loginForm.url, demo.upstreamRegions[0]!.url, 'the browser is sent to the first upstream region')
  const offer = await browser.submitForm(loginForm.text, loginForm.url, { login: 'newcomer' })
  t.same([offer.status, offer.url.startsWith(`${demo.issuer}/callback/demo`)], [200, true], 'back at the gateway, which offers a passkey')
  t.match(offer.text, 'Add a passkey')
  const back = await notNow(browser, offer)
  t.equal(back.status, 200)
  t.match(back.text, /<td id="claim-acr"><code>urn:understudy:acr:upstream<\/code>/)
  t.match(back.text, /<td id="claim-amr"><code>pwd<\/code><br><small>pwd: a password/, 'the upstream\'s amr, explained')
  t.match(back.text, /newcomer@example\.com/)

  const again = await browser.follow(`${demo.siteUrl}login`, { method: 'POST' })
  t.match(again.text, /urn:understudy:acr:upstream/, 'a second login is SSO: straight back to the site')

  const toggled = await browser.follow(`${demo.siteUrl}regions/primary/toggle`, { method: 'POST' })
  t.match(toggled.text, /primary.*is <b>down<\/b>/s, 'the site can stop an upstream region')
  const whileDown = await browser.follow(`${demo.siteUrl}login`, { method: 'POST' })
  t.match(whileDown.text, /Logged in\./, 'a returning user still logs in while the primary region is down')

  // Until the health checks notice, a newcomer may still be sent to the stopped region; after that, never.
  const secondary = demo.upstreamRegions[1]!.url
  let newcomer: Browser | undefined
  let form: Awaited<ReturnType<Browser['follow']>> | undefined
  for (let tries = 0; form === undefined; tries++) {
    if (tries > 100) throw new Error('the primary region was never taken out of rotation')
    const candidate = new Browser()
    const answer = await candidate.follow(`${demo.siteUrl}login`, { method: 'POST' }).catch(() => undefined)
    if (answer?.status === 200 && answer.url.startsWith(secondary)) [newcomer, form] = [candidate, answer]
    else await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const landed = await notNow(newcomer!, await newcomer!.submitForm(form.text, form.url, { login: 'second-region-user' }))
  t.match(landed.text, /second-region-user@example\.com/, 'a new user logs in through the secondary region')
})

t.test('a demo stack that cannot start (its site\'s port is taken) fails with the error, and what it had started is closed', async (t) => {
  const ports = await freeDemoPorts()
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(ports.site, '127.0.0.1', resolve))
  t.teardown(() => { blocker.close() })
  await t.rejects(startDemo(createLogger({ level: 'silent' }), ports, new PassThrough(), seedDirectoryPath), { code: 'EADDRINUSE' })
  for (const [name, port] of Object.entries({ gateway: ports.gateway, admin: ports.admin, upstream: ports.upstream, 'upstream region 2': ports.upstream + 1, linked: ports.linked })) {
    t.equal(await canListen(port), true, `the ${name} port is free again`)
  }
})

async function canListen (port: number): Promise<boolean> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}
