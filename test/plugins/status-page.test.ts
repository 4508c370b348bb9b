import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { launchChromium, noChromium } from '../helpers/chromium.js'
import { ADMIN, ADMIN_TOKEN, waitFor } from '../helpers/admin.js'
import { startStack } from '../helpers/stack.js'

t.test('/status.json tells each provider and region state, with recent incidents', async (t) => {
  const s = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN } })
  t.teardown(() => s.close())
  const before = await (await fetch(`${s.issuer}/status.json`)).json() as Record<string, any>
  t.equal(before.status, 'ok')
  t.same(before.providers[0].regions.map((r: { name: string, state: string }) => `${r.name}:${r.state}`), ['primary:closed', 'secondary:closed'])
  t.same(before.incidents, [])
  await fetch(`${s.adminUrl}/admin/breakers/idp/primary/open`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  // The public answers come from a snapshot at most a second old.
  let after: Record<string, any> = {}
  await waitFor(async () => (after = await (await fetch(`${s.issuer}/status.json`)).json() as Record<string, any>).status !== 'ok', 'the next snapshot')
  t.equal(after.status, 'degraded')
  t.equal(after.providers[0].status, 'degraded')
  t.equal(after.providers[0].regions[0].state, 'open')
  t.equal(after.incidents[0].status, 'ongoing')
  const page = await fetch(`${s.issuer}/status`)
  t.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/)
  t.equal(page.headers.get('x-frame-options'), 'DENY')
})

t.test('the status page renders in headless Chromium and a region turns red within one refresh after its breaker opens', { skip: noChromium }, async (t) => {
  const s = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN } })
  t.teardown(() => s.close())
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
  await page.goto(`${s.issuer}/status?refresh=2`)
  t.equal(await page.title(), 'Login status')
  t.equal(await page.getAttribute('[data-region="primary"]', 'data-state'), 'closed')
  t.equal(await page.textContent('[role="status"]'), 'All logins are working')
  const green = await page.$eval('[data-region="primary"] .pill', (el) => (globalThis as unknown as { getComputedStyle (e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor)

  await fetch(`${s.adminUrl}/admin/breakers/idp/primary/open`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  await page.waitForSelector('[data-region="primary"][data-state="open"]', { timeout: 2 * 2_000 + 3_000 })
  const red = await page.$eval('[data-region="primary"] .pill', (el) => (globalThis as unknown as { getComputedStyle (e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor)
  t.not(red, green, 'the region changed colour')
  const [r, g] = red.match(/\d+/g)!.map(Number)
  t.ok(r! > g!, `the region is red (${red})`)
  t.match(await page.textContent('[role="status"]'), /having trouble/)
  t.ok(await page.isVisible('text=Recent incidents'))
  const shot = process.env.UNDERSTUDY_SCREENSHOT ?? join(tmpdir(), 'understudy-status.png')
  await page.screenshot({ path: shot, fullPage: true })
  t.ok(existsSync(shot), 'a screenshot was taken')
})
