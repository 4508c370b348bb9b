import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as oidc from 'openid-client'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { ADMIN, admin } from '../helpers/admin.js'
import { launchChromium, newDevice, noChromium, startSite, type Device, type VirtualCredential } from '../helpers/backup-browser.js'
import { naverProvider, startFakeOAuth2 } from '../helpers/fake-oauth2.js'
import { seedDirectoryPath } from '../helpers/pglite-template.js'
import { authorizationRequest, discoverClient, type AuthorizationChecks } from '../helpers/relying-party.js'
import { CLIENTS, freePort, startStack } from '../helpers/stack.js'

// Backup login in a real browser (headless Chromium, a CDP virtual authenticator per device), on the
// shipped path: the embedded directory (PGlite) that `directory: { kind: embedded }` opens.
// The tests run in order: alice enrolls, links naver, then logs in on new devices while idp is down.

const BACKUP_ACR = 'urn:understudy:acr:backup'
const SCREENSHOTS = fileURLToPath(new URL('../../docs/img/', import.meta.url))
const naver = await startFakeOAuth2({ clientId: 'understudy', clientSecret: 'naver-secret' }, { id: 'naver-alice', nickname: 'Alice' })
t.teardown(() => naver.close())
const site = await startSite()
t.teardown(() => site.close())
/** Where each client's browser lands: the site's listener. */
const redirectUri = (client: string) => `${site.url}/${client}/cb`
// Chromium starts while the stack does.
const launching = noChromium ? undefined : launchChromium()
t.teardown(async () => { await (await launching)?.close() })
const port = await freePort()
// directory.path holds a database that exists (a copy of one made once per machine): creating one is embedded.test.ts's.
const directoryPath = t.testdir()
await seedDirectoryPath(directoryPath)
// WebAuthn refuses IP addresses: the issuer is localhost, the listener 127.0.0.1.
const issuer = `http://localhost:${port}`
const s = await startStack({
  issuer,
  provider: { healthCheck: { interval: 3600 } },
  extraProviders: [naverProvider(naver)],
  config: {
    listen: { host: '127.0.0.1', port },
    admin: ADMIN,
    backupLogin: {},
    directory: { kind: 'embedded', path: directoryPath },
    clients: Object.values(CLIENTS).map((c) => ({ ...c, providers: ['idp'], redirectUris: [redirectUri(c.clientId)] })),
  },
})
t.teardown(() => s.close())
const directory = s.gateway.gateway.backup!.directory
const shop = await discoverClient(issuer, 'shop')
const spa = await discoverClient(issuer, 'spa')
const chromium = await launching

/** Alice as the sites know her after her upstream login, and the passkey her first device made. */
const alice = { sub: '', credential: undefined as VirtualCredential | undefined }

/** A new device (empty cookies, its own authenticator holding `credentials`), closed at the end of `t`. */
async function device (t: Test, credentials: VirtualCredential[] = []): Promise<Device> {
  return newDevice(t, chromium!, site, credentials)
}

/** Redeems the code the site was sent with openid-client; the ID token's claims. */
async function redeem (client: oidc.Configuration, landed: URL, checks: AuthorizationChecks): Promise<oidc.IDToken> {
  return (await oidc.authorizationCodeGrant(client, landed, checks)).claims()!
}

/** Stops every region of idp, as an outage does, with the gateway's breakers open on it; both come back at the end of `t`. */
async function everyRegionDown (t: Test): Promise<void> {
  const regions = s.upstream.regions.map((r) => r.name)
  await Promise.all(regions.map((name) => s.upstream.stopRegion(name)))
  for (const name of regions) t.equal((await admin(s, 'POST', `/admin/breakers/idp/${name}/open`)).status, 200)
  t.teardown(async () => {
    await Promise.all(regions.map((name) => s.upstream.startRegion(name)))
    for (const name of regions) await admin(s, 'POST', `/admin/breakers/idp/${name}/close`)
  })
}

/**
 * After a passkey login on `dev`: the directory recorded the counter the
 * authenticator signed, which went forward; alice's other devices sync the
 * passkey as it is now.
 */
async function synced (t: Test, dev: Device): Promise<void> {
  const credential = (await dev.credentials()).find((c) => c.rpId === 'localhost')
  const stored = (await directory.passkey(passkeyId(credential!)))!.passkey
  t.ok(credential!.signCount > alice.credential!.signCount, 'the authenticator counted the login')
  t.equal(stored.counter, credential!.signCount, 'the directory recorded the counter it signed')
  alice.credential = credential
}

/** The credential id of a virtual credential, as the directory keys passkeys (base64url). */
function passkeyId (credential: VirtualCredential): string {
  return Buffer.from(credential.credentialId, 'base64').toString('base64url')
}

/** With UPDATE_SCREENSHOTS=1, the page as docs/backup-login.md shows it (docs/img/backup-<name>.png); otherwise nothing is written. */
async function screenshot (page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: `${SCREENSHOTS}backup-${name}.png`, fullPage: true })
}

/** A login request of shop or spa, built by openid-client. */
async function loginRequest (client: 'shop' | 'spa'): Promise<{ url: string, checks: AuthorizationChecks }> {
  return authorizationRequest(client === 'shop' ? shop : spa, client, { redirect_uri: redirectUri(client) })
}

/** Opens the outage page for `client` on `dev` while idp is down; the checks for the site's answer. */
async function outagePage (t: Test, dev: Device, client: 'shop' | 'spa'): Promise<AuthorizationChecks> {
  const { url, checks } = await loginRequest(client)
  const answer = await dev.page.goto(url)
  t.equal(answer?.status(), 200, 'the outage page, not an error')
  t.equal(await dev.page.textContent('h1'), 'idp is not answering right now')
  return checks
}

/** Clicks "Log in with a passkey" and waits until the page says why it was refused. */
async function refusedPasskeyLogin (dev: Device): Promise<string> {
  await dev.page.click('#passkey-login')
  return (await dev.page.locator('#passkey-status:not(:empty)').textContent()) ?? ''
}

t.test('after an upstream login at shop "Add a passkey" makes one on the device, and the browser arrives at shop logged in', { skip: noChromium }, async (t) => {
  const home = await device(t)
  const { url, checks } = await loginRequest('shop')
  await home.page.goto(url)
  await home.page.fill('input[name="login"]', 'alice')
  await home.page.click('button[type="submit"]')
  await home.page.waitForURL((u) => u.href.startsWith(`${issuer}/callback/idp`))
  t.equal(await home.page.title(), 'Add a passkey?')
  t.match(await home.page.textContent('main'), 'You logged in with idp. If idp is down, you can still log in with a passkey.')
  t.equal(await home.page.textContent('#not-now'), 'Not now')
  await home.page.waitForSelector('#add-passkey:enabled')
  t.same(await home.credentials(), [], 'no passkey on the device yet')
  await screenshot(home.page, 'offer')

  await home.page.click('#add-passkey')
  const claims = await redeem(shop, await home.landed(), checks)
  t.equal(claims.acr, 'urn:understudy:acr:upstream')
  t.equal(home.atSite.length, 1, 'one code for the site')
  const credentials = await home.credentials()
  t.equal(credentials.length, 1, 'the authenticator holds one passkey')
  const credential = credentials[0]!
  t.match(credential, { rpId: 'localhost', isResidentCredential: true, backupEligibility: true }, 'a discoverable passkey for the issuer\'s host')
  const stored = await directory.passkey(passkeyId(credential))
  t.equal(stored?.person.sub, claims.sub, 'stored for the person who logged in')
  t.equal(stored?.passkey.deviceType, 'multiDevice')
  t.match(stored?.passkey.name, /^Passkey on Chrome \(Linux\), \d{1,2} [A-Z][a-z]{2} \d{4}$/, 'named after the browser that added it')
  alice.sub = claims.sub
  alice.credential = credential
})

t.test('the account page links naver to alice while everything is up', { skip: noChromium }, async (t) => {
  const home = await device(t)
  await home.page.goto(`${issuer}/account`)
  t.equal(await home.page.title(), 'How you log in')
  await home.page.click('#account-login-idp')
  await home.page.fill('input[name="login"]', 'alice')
  await home.page.click('button[type="submit"]')
  await home.page.waitForURL((u) => u.href === `${issuer}/account?result=signed-in`)
  t.equal(await home.page.locator('li.passkey').getAttribute('data-credential-id'), passkeyId(alice.credential!), 'her passkey is listed')
  t.match(await home.page.textContent('li.passkey'), 'synced between your devices')

  await home.page.click('#link-naver')
  await home.page.waitForURL((u) => u.href === `${issuer}/account?result=linked`)
  t.equal(await home.page.textContent('#account-result'), 'The provider is linked: you can log in with it when your own provider is down.')
  t.equal(await home.page.getAttribute('li.link', 'data-provider'), 'naver')
  t.ok(await home.page.isVisible('#unlink-naver'))
  t.match((await directory.identity(alice.sub))?.links, [{ provider: 'naver', upstreamSub: 'naver-alice' }])
  await screenshot(home.page, 'account')
})

t.test('while every idp region is down a new device with the synced passkey logs in to spa: the same sub, acr backup', { skip: noChromium }, async (t) => {
  await everyRegionDown(t)
  const phone = await device(t, [alice.credential!])
  const checks = await outagePage(t, phone, 'spa')
  t.equal(await phone.page.textContent('#passkey-login'), 'Log in with a passkey')
  t.equal(await phone.page.textContent('#linked-naver'), 'Log in with naver')
  t.equal(await phone.page.textContent('#back-to-site'), 'Back to spa')
  await phone.page.waitForSelector('#passkey-login:enabled')
  await screenshot(phone.page, 'outage')

  await phone.page.click('#passkey-login')
  const claims = await redeem(spa, await phone.landed(), checks)
  t.equal(claims.sub, alice.sub, 'the sub alice had at shop')
  t.equal(claims.acr, BACKUP_ACR)
  t.same(claims.amr, ['swk', 'user'], 'a synced passkey that verified the user')
  await synced(t, phone)
})

t.test('while idp is down the linked naver logs alice in on a new device: the same sub, acr backup', { skip: noChromium }, async (t) => {
  await everyRegionDown(t)
  const laptop = await device(t)
  const checks = await outagePage(t, laptop, 'shop')
  await laptop.page.click('#linked-naver')
  const claims = await redeem(shop, await laptop.landed(), checks)
  t.equal(claims.sub, alice.sub, 'alice\'s sub, not naver\'s')
  t.equal(claims.acr, BACKUP_ACR)
  t.same(claims.amr, ['fed'])
})

t.test('the browser\'s passkey login answer sent again is refused as replayed: a ceremony is spent once', { skip: noChromium }, async (t) => {
  await everyRegionDown(t)
  const phone = await device(t, [alice.credential!])
  await outagePage(t, phone, 'spa')
  const posted = phone.page.waitForRequest(`${issuer}/backup/passkey/login`)
  await phone.page.click('#passkey-login')
  await phone.landed()
  await synced(t, phone)
  const replayed = await phone.page.request.post(`${issuer}/backup/passkey/login`, { data: (await posted).postData(), headers: { 'content-type': 'application/json' } })
  t.equal(replayed.status(), 400)
  t.match(await replayed.json(), { error: 'passkey_refused', reason: 'replayed' })
  t.equal(phone.atSite.length, 1, 'one code, for the login itself')
})

t.test('alice\'s key registered for another RP ID logs nobody in: the page says so and the site gets no code; her own passkey then does', { skip: noChromium }, async (t) => {
  await everyRegionDown(t)
  const elsewhere = await device(t, [{ ...alice.credential!, rpId: 'evil.example' }])
  const checks = await outagePage(t, elsewhere, 'spa')
  const logins: string[] = []
  elsewhere.page.on('request', (request) => { if (request.url() === `${issuer}/backup/passkey/login`) logins.push(request.url()) })
  t.equal(await refusedPasskeyLogin(elsewhere), 'The passkey prompt was closed or timed out. Nothing changed; you can try again.')
  t.same(logins, [], 'nothing was sent to log in with')
  t.same(elsewhere.atSite, [])
  t.ok(elsewhere.page.url().startsWith(`${issuer}/authorize`), 'still on the outage page')

  // The authenticator holds one key per credential id: the one for localhost replaces the other.
  await elsewhere.cdp.send('WebAuthn.clearCredentials', { authenticatorId: elsewhere.authenticatorId })
  await elsewhere.addCredential(alice.credential!)
  await elsewhere.page.click('#passkey-login')
  const claims = await redeem(spa, await elsewhere.landed(), checks)
  t.same([claims.sub, claims.acr], [alice.sub, BACKUP_ACR], 'the same page logs her in with the passkey made for localhost')
  t.equal(logins.length, 1)
  await synced(t, elsewhere)
})

t.test('a passkey whose signature counter went back is refused, shown on the page, and logged at error', { skip: noChromium }, async (t) => {
  await everyRegionDown(t)
  const before = (await directory.passkey(passkeyId(alice.credential!)))!.passkey
  t.ok(before.counter > 0, 'the earlier logins recorded a counter')
  const clone = await device(t, [{ ...alice.credential!, signCount: before.counter - 1 }])
  await outagePage(t, clone, 'spa')
  t.equal(await refusedPasskeyLogin(clone), 'This passkey cannot be used: it may have been copied. Please use another way to log in, and remove it on your account page.')
  t.same(clone.atSite, [])
  t.equal((await directory.passkey(passkeyId(alice.credential!)))!.passkey.counter, before.counter, 'the stored counter did not move')
  t.ok(s.logs.some((line) => line.includes('"level":50') && line.includes('passkey signature counter')), 'logged at error')
})

t.test('no request of this file ended in an unhandled error or a 500', { skip: noChromium }, async (t) => {
  t.ok(s.logs.some((line) => line.includes('"statusCode":200')), 'the access log is there to read')
  t.same(s.logs.filter((line) => line.includes('"unhandled error"') || line.includes('"statusCode":500')), [])
})
