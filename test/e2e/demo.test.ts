import { PassThrough } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../src/cli/logger.js'
import { startDemo } from '../../harness/demo/stack.js'
import { Browser } from '../../harness/browser.js'
import { freePort } from '../helpers/stack.js'

t.test('the demo stack logs a user in through the gateway and shows the truth of the ID token', async (t) => {
  const [gateway, admin, site, upstream] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  // The upstream needs two consecutive ports; a free one followed by its neighbour is good enough here.
  const out = new PassThrough()
  const demo = await startDemo(createLogger({ level: 'silent' }), { gateway, admin, site, upstream }, out)
  t.match(String(out.read()), /demo site \(log in here\): +http:\/\/127\.0\.0\.1:\d+\//, 'it prints the URLs')
  t.teardown(() => demo.close())
  t.equal(demo.upstreamRegions.length, 2, 'the demo upstream has two regions')

  const browser = new Browser()
  const home = await browser.fetch(demo.siteUrl)
  t.match(home.text, /not logged in/)
  const loginForm = await browser.follow(`${demo.siteUrl}login`, { method: 'POST' })
  t.equal(loginForm.status, 200)
  t.match(loginForm.url, demo.upstreamRegions[0]!.url, 'the browser is sent to the first upstream region')
  const back = await browser.submitForm(loginForm.text, loginForm.url, { login: 'newcomer' })
  t.equal(back.status, 200)
  t.match(back.text, /urn:understudy:acr:upstream/)
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
  const landed = await newcomer!.submitForm(form.text, form.url, { login: 'second-region-user' })
  t.match(landed.text, /second-region-user@example\.com/, 'a new user logs in through the secondary region')
})
