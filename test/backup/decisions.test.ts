import t from 'tap'
import { addPasskey, passkeyRegistration, startLink } from '../../src/backup/account.js'
import type { BackupDeps } from '../../src/backup/deps.js'
import { openBackupContext, sealBackupContext } from '../../src/backup/page.js'
import { continueAfterOffer, loginThroughLinked, passkeyLogin, passkeyLoginOptions, backToSite } from '../../src/backup/page-actions.js'
import { rpFor } from '../../src/backup/passkeys.js'
import { validateConfig } from '../../src/config/load.js'
import { silentLogger } from '../../src/log.js'
import type { BrowserOutcome } from '../../src/oidc/answer.js'
import { authorize } from '../../src/oidc/authorize.js'
import { callback } from '../../src/oidc/callback.js'
import { ClientRegistry } from '../../src/oidc/clients.js'
import type { CodePayload } from '../../src/oidc/code.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { ACR_BACKUP, ACR_CACHED, ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import { unseal } from '../../src/sessions/seal.js'
import { subjectFor, type Session } from '../../src/sessions/session.js'
import type { EndpointDeps } from '../../plugins/oidc/deps.js'
import { MemoryDirectory } from '../helpers/memory-directory.js'
import { FakeRouter, ISSUER, MAX_STALENESS, PROVIDER, SHOP, SPA, transient, unit, type Unit } from '../helpers/oidc-unit.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'

// The decisions of backup login (DESIGN §10) on the endpoints' core
// functions, with a fake clock, fake routers and the directory in memory.

const LINKED = 'naver'

interface Backup extends Unit {
  deps: EndpointDeps & { backup: BackupDeps }
  directory: MemoryDirectory
  linked: FakeRouter
}

/** The unit with backup login on (a second provider, `naver`, to link), the `policy` changes applied. */
async function backupUnit (policy: Partial<BackupDeps['policy']> = {}, clients?: { acceptBackupLogin?: boolean }, linkedReauthenticate: Record<string, string> = { auth_type: 'reauthenticate' }): Promise<Backup> {
  const u = await unit()
  const linked = new FakeRouter()
  Object.defineProperty(linked, 'id', { value: LINKED })
  linked.onExchange = async () => ({ sub: 'alice-at-naver', claims: { email: 'someone-else@naver.test' } })
  const directory = new MemoryDirectory()
  const backup: BackupDeps = { directory, rp: rpFor(ISSUER), policy: { passkeys: true, linkedProviders: true, offer: 'after-login', offerEvery: 30 * 86_400, passkeyWhenHealthy: false, ...policy } }
  const deps = {
    ...u.deps,
    upstreams: new Map([[PROVIDER, u.router], [LINKED, linked]]),
    providers: [...u.deps.providers, { id: LINKED, kind: 'oauth2' as const, pkce: true, reauthenticate: linkedReauthenticate }],
    backup,
  }
  if (clients?.acceptBackupLogin !== undefined) {
    const config = validateConfig({
      issuer: ISSUER,
      keys: { signing: 'x', sealing: 'x' },
      providers: [{ id: PROVIDER, kind: 'oauth2', clientId: 'c', regions: [{ name: 'r', authorizationEndpoint: 'https://a.test', tokenEndpoint: 'https://a.test', userinfoEndpoint: 'https://a.test' }], claims: { sub: 'id' } }],
      clients: [{ clientId: SHOP.clientId, clientSecret: 's', redirectUris: [SHOP.redirectUri], providers: [PROVIDER], freshness: { acceptBackupLogin: clients.acceptBackupLogin } }],
    }, { env: {} })
    deps.clients = new ClientRegistry(config.clients)
  }
  return { ...u, deps, directory, linked }
}

const request = { client_id: SHOP.clientId, redirect_uri: SHOP.redirectUri, response_type: 'code', scope: 'openid email', state: 'rp-state' }

/** What the browser was answered, in words. */
async function answer (u: Unit, outcome: Promise<BrowserOutcome>): Promise<string> {
  try {
    const { location, page } = await outcome
    if (page?.kind === 'outage') return `page outage${page.down ? ' down' : ''}${page.passkey ? ' passkey' : ''}${page.linked.map((p) => ` ${p}`).join('')}`
    if (page) return `page ${page.kind}`
    const url = new URL(location)
    if (url.origin !== new URL(SHOP.redirectUri).origin) return 'upstream'
    const code = unseal<CodePayload>(u.deps.keys, 'code', url.searchParams.get('code')!, u.clock.now())
    return `code ${code.acr === ACR_UPSTREAM ? 'upstream' : code.acr === ACR_CACHED ? 'cached' : code.acr === ACR_BACKUP ? 'backup' : code.acr}`
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err
    return err.error
  }
}

/** Why a call was refused: an OAuth error's code or a passkey refusal's reason. */
async function refusal (call: Promise<unknown> | (() => Promise<unknown>)): Promise<string> {
  try {
    await (typeof call === 'function' ? call() : call)
    return 'no refusal'
  } catch (err) {
    const { reason, error } = err as { reason?: string, error?: string }
    return reason ?? error ?? String(err)
  }
}

/** The code the relying party got, opened. */
function codeOf (u: Unit, outcome: BrowserOutcome): CodePayload {
  return unseal<CodePayload>(u.deps.keys, 'code', new URL(outcome.location!).searchParams.get('code')!, u.clock.now())
}

/** A backup session of alice (her usual sub at the provider) made `ago` seconds ago. */
function backupSession (u: Unit, ago = 0): Session {
  return { ...u.session({ vouchedAgo: ago }), claims: {}, amr: ['hwk', 'user'], backup: { method: 'passkey', id: 'alice-passkey' } }
}

t.test('with the provider down and no session that may serve, /authorize shows the backup page, or says temporarily_unavailable when there is nothing to offer', async (t) => {
  type Case = { policy?: Partial<BackupDeps['policy']>, accept?: boolean, linkedUp?: boolean, extra?: Record<string, string>, off?: true, expected: string }
  const cases: Array<[string, Case]> = [
    ['passkeys and a linked provider that is up', { expected: 'page outage down passkey naver' }],
    ['the linked provider is down too', { linkedUp: false, expected: 'page outage down passkey' }],
    ['linked providers off', { policy: { linkedProviders: false }, expected: 'page outage down passkey' }],
    ['passkeys off, a linked provider up', { policy: { passkeys: false }, expected: 'page outage down naver' }],
    ['passkeys off, the linked provider down: nothing to offer', { policy: { passkeys: false }, linkedUp: false, expected: 'temporarily_unavailable' }],
    ['a client that refuses backup logins', { accept: false, expected: 'temporarily_unavailable' }],
    ['prompt=none never shows a page', { extra: { prompt: 'none' }, expected: 'login_required' }],
    ['backup login off', { off: true, expected: 'temporarily_unavailable' }],
  ]
  for (const [name, c] of cases) {
    const u = await backupUnit(c.policy, c.accept === undefined ? undefined : { acceptBackupLogin: c.accept })
    if (c.off) delete (u.deps as Partial<typeof u.deps>).backup
    u.router.up = false
    u.linked.up = c.linkedUp ?? true
    t.equal(await answer(u, authorize(u.deps, { ...request, ...c.extra }, undefined, silentLogger)), c.expected, name)
    const counted = c.expected.startsWith('page') ? [] : c.expected === 'temporarily_unavailable' ? [`shop ${PROVIDER} unavailable`] : []
    t.same(u.logins, counted, `${name}: a page counts nothing until the user picks`)
  }
})

t.test('a returning user with a cached session is still served the cached login, not the page', async (t) => {
  const u = await backupUnit()
  u.router.up = false
  const cookie = await u.cookie(u.session({ vouchedAgo: MAX_STALENESS + 60 }))
  t.equal(await answer(u, authorize(u.deps, request, cookie, silentLogger)), 'code cached')
})

t.test('passkeyWhenHealthy offers the choice while the provider is up, except when the site demands a fresh login there', async (t) => {
  const u = await backupUnit({ passkeyWhenHealthy: true })
  t.equal(await answer(u, authorize(u.deps, request, undefined, silentLogger)), 'page outage passkey', 'a choice: the provider or a passkey, no linked providers')
  t.equal(await answer(u, authorize(u.deps, { ...request, prompt: 'login' }, undefined, silentLogger)), 'upstream', 'prompt=login goes to the provider')
  const off = await backupUnit()
  t.equal(await answer(off, authorize(off.deps, request, undefined, silentLogger)), 'upstream', 'off by default')
})

t.test('a backup session answers SSO as a backup login within maxStaleness, for clients that accept one, and never as a cached login', async (t) => {
  const u = await backupUnit()
  const fresh = await u.cookie(backupSession(u, 60))
  t.equal(await answer(u, authorize(u.deps, request, fresh, silentLogger)), `code backup`, 'fresh: SSO with acr backup')
  u.router.up = false
  const stale = await u.cookie(backupSession(u, MAX_STALENESS + 60))
  t.equal(await answer(u, authorize(u.deps, request, stale, silentLogger)), 'page outage down passkey naver', 'past maxStaleness with the provider down: the backup page again, not a cached login')
  const refusing = await backupUnit({}, { acceptBackupLogin: false })
  t.equal(await answer(refusing, authorize(refusing.deps, request, await refusing.cookie(backupSession(refusing, 60)), silentLogger)), 'upstream', 'a client that refuses backup logins sends the user to the provider')
})

/** A login the shop started, through the upstream, back at the callback with a code. */
async function upstreamLogin (u: Backup): Promise<BrowserOutcome> {
  const started = await authorize(u.deps, request, undefined, silentLogger)
  const tx = started.cookies[0]!
  const state = u.router.calls.authorize.at(-1)!.state
  return callback(u.deps, PROVIDER, { state, code: 'upstream-code' }, (name) => (name === tx.name ? tx.value : undefined), silentLogger)
}

t.test('after an upstream login, a user with no backup method is offered one; "Not now" continues and is remembered; a slow or dead directory means no offer', async (t) => {
  const u = await backupUnit()
  const offered = await upstreamLogin(u)
  t.equal(offered.page?.kind, 'offer', 'the offer page')
  t.notOk(offered.location, 'no code yet: it is issued when the user leaves the page')
  t.same(u.logins, [`shop ${PROVIDER} upstream`], 'the upstream login is counted')
  const session = offered.cookies.find((c) => c.name === u.deps.cookies.session)!
  const context = offered.page!.context
  const sid = openBackupContext(u.deps.keys, context, u.clock.now()).sid
  t.ok(sid, 'the context names the session it continues')

  const other = await u.cookie(u.session())
  t.equal(await answer(u, continueAfterOffer(u.deps, context, other, silentLogger)), 'login_required', 'another session in this browser cannot continue it')
  t.equal(await answer(u, continueAfterOffer(u.deps, context, session.value, silentLogger, true)), 'code upstream', '"Not now" continues to the site')
  const alice = subjectFor(PROVIDER, 'alice')
  t.equal((await u.directory.identity(alice))?.offerDeclinedUntil, u.clock.now() + 30 * 86_400, 'and is remembered for offerEvery')
  t.equal(await answer(u, upstreamLogin(u)), 'code upstream', 'no offer at the next login')
  u.clock.advance(30 * 86_400 + 1)
  t.equal(await answer(u, upstreamLogin(u)), 'page offer', 'offered again after offerEvery')

  const down = await backupUnit()
  down.directory.down = true
  t.equal(await answer(down, upstreamLogin(down)), 'code upstream', 'the directory down: no offer, the login goes on')
  const never = await backupUnit({ offer: 'never' })
  t.equal(await answer(never, upstreamLogin(never)), 'code upstream', 'offer: never')
})

t.test('a passkey added after an upstream login logs the same person in on a new device while the provider is down: usual sub, acr backup, amr, auth_time now', async (t) => {
  const u = await backupUnit()
  const offered = await upstreamLogin(u)
  const cookie = offered.cookies.find((c) => c.name === u.deps.cookies.session)!.value
  const session = unseal<Session>(u.deps.keys, 'session', cookie, u.clock.now())
  const authenticator = SoftwareAuthenticator.create('localhost', ISSUER)
  const registration = await passkeyRegistration(u.deps, session)
  await addPasskey(u.deps, session, registration.ceremony, authenticator.register(registration.options), 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140')
  t.equal(await answer(u, upstreamLogin(u)), 'code upstream', 'a user with a passkey is not offered another')

  u.router.up = false
  u.clock.advance(3600)
  const page = await authorize(u.deps, request, undefined, silentLogger)
  t.equal(page.page?.kind, 'outage', 'a new device sees the backup page')
  const login = await passkeyLoginOptions(u.deps, page.page!.context)
  const outcome = await passkeyLogin(u.deps, page.page!.context, login.ceremony, authenticator.authenticate(login.options), silentLogger)
  const code = codeOf(u, outcome)
  t.equal(code.sub, subjectFor(PROVIDER, 'alice'), 'the usual sub')
  t.equal(code.acr, ACR_BACKUP)
  t.same(code.amr, ['hwk', 'user'], 'a device-bound passkey: hwk and user')
  t.equal(code.authTime, u.clock.now(), 'auth_time is the passkey login\'s')
  t.same(code.claims, {}, 'no profile claims from a backup login')
  t.ok(outcome.cookies.some((c) => c.name === u.deps.cookies.session), 'a backup session for the next sites')
  t.same(u.logins.slice(-1), [`shop ${PROVIDER} backup passkey`], 'counted as a backup login with a passkey')

  const again = await passkeyLoginOptions(u.deps, page.page!.context)
  const replayed = authenticator.authenticate(again.options)
  await passkeyLogin(u.deps, page.page!.context, again.ceremony, replayed, silentLogger)
  t.equal(await refusal(passkeyLogin(u.deps, page.page!.context, again.ceremony, replayed, silentLogger)), 'replayed', 'a ceremony is spent once')
  const regressed = await passkeyLoginOptions(u.deps, page.page!.context)
  t.equal(await refusal(passkeyLogin(u.deps, page.page!.context, regressed.ceremony, authenticator.authenticate(regressed.options, { counter: 1 }), silentLogger)), 'counter', 'a counter that goes back is refused')

  u.directory.down = true
  const dead = await passkeyLoginOptions(u.deps, page.page!.context)
  t.equal(await answer(u, passkeyLogin(u.deps, page.page!.context, dead.ceremony, authenticator.authenticate(dead.options), silentLogger)), 'temporarily_unavailable', 'the directory down: this login alone is unavailable')
})

t.test('a client that does not use the person\'s provider, or whose id_token_hint names someone else, gets no backup login', async (t) => {
  const u = await backupUnit()
  const alice: Session = u.session()
  await u.directory.ensurePerson({ sub: alice.sub, provider: 'elsewhere', upstreamSub: 'alice', createdAt: 0 })
  const authenticator = SoftwareAuthenticator.create('localhost', ISSUER)
  const registration = await passkeyRegistration(u.deps, alice)
  await addPasskey(u.deps, alice, registration.ceremony, authenticator.register(registration.options), undefined)
  u.router.up = false
  const page = (await authorize(u.deps, request, undefined, silentLogger)).page!
  const login = await passkeyLoginOptions(u.deps, page.context)
  t.equal(await answer(u, passkeyLogin(u.deps, page.context, login.ceremony, authenticator.authenticate(login.options), silentLogger)), 'temporarily_unavailable', 'the person logs in through a provider this site does not use')
})

/** Alice, her own provider down, her naver identity linked to her. */
async function aliceLinked (): Promise<{ u: Backup, alice: Session }> {
  const u = await backupUnit()
  const alice = u.session()
  await u.directory.ensurePerson({ sub: alice.sub, provider: PROVIDER, upstreamSub: 'alice', createdAt: 0 })
  await u.directory.link({ sub: alice.sub, provider: LINKED, upstreamSub: 'alice-at-naver', linkedAt: 0 })
  u.router.up = false
  return { u, alice }
}

t.test('a linked provider logs the person in while theirs is down: usual sub, acr backup, the linked provider\'s amr or fed; an identity linked to nobody is refused', async (t) => {
  const { u, alice } = await aliceLinked()
  const page = (await authorize(u.deps, request, undefined, silentLogger)).page!
  const through = async (): Promise<BrowserOutcome> => {
    const sent = await loginThroughLinked(u.deps, page.context, LINKED, silentLogger)
    const tx = sent.cookies[0]!
    return callback(u.deps, LINKED, { state: u.linked.calls.authorize.at(-1)!.state, code: 'naver-code' }, (name) => (name === tx.name ? tx.value : undefined), silentLogger)
  }
  const outcome = await through()
  const code = codeOf(u, outcome)
  t.equal(code.sub, alice.sub, 'the person\'s usual sub, not the linked identity\'s')
  t.equal(code.acr, ACR_BACKUP)
  t.same(code.amr, ['fed'], 'a provider that says no amr: fed')
  t.same(code.claims, {}, 'the linked provider\'s claims (another email) are not passed on')
  t.equal(code.provider, PROVIDER, 'the grant is the person\'s own provider\'s')
  t.same(u.logins.slice(-1), [`shop ${PROVIDER} backup linked`], 'counted as a backup login through a linked provider')

  t.equal(await refusal(loginThroughLinked(u.deps, page.context, PROVIDER, silentLogger)), 'invalid_request', 'the provider that is down is not a way round itself')
  t.equal(await refusal(loginThroughLinked(u.deps, page.context, 'nowhere', silentLogger)), 'invalid_request', 'an unknown provider')

  await u.directory.unlink(alice.sub, LINKED)
  t.equal(await answer(u, through()), 'temporarily_unavailable', 'an identity linked to nobody logs nobody in')
  u.directory.down = true
  t.equal(await answer(u, through()), 'temporarily_unavailable', 'the directory down')
})

t.test('"Back to the site" is temporarily_unavailable to the relying party, counted; a forged context is an error page', async (t) => {
  const u = await backupUnit()
  u.router.up = false
  const page = (await authorize(u.deps, request, undefined, silentLogger)).page!
  try {
    backToSite(u.deps, page.context)
    t.fail('it must redirect')
  } catch (err) {
    t.equal((err as OAuthError).error, 'temporarily_unavailable')
    t.same((err as OAuthError).redirect, { redirectUri: SHOP.redirectUri, state: 'rp-state' }, 'to the site, with its state')
  }
  t.same(u.logins, [`shop ${PROVIDER} unavailable`])
  t.equal(await refusal(async () => backToSite(u.deps, `${page.context}x`)), 'invalid_request')
  t.equal(await refusal(async () => backToSite(u.deps, undefined)), 'invalid_request')
  t.notOk((await backupUnit()).deps.clients.get(SPA.clientId)?.freshness.acceptBackupLogin === false, 'clients accept backup logins by default')
})

t.test('a linked-provider login is checked against the id_token_hint as the person it maps to, not as the linked identity', async (t) => {
  const { u, alice } = await aliceLinked()
  const through = async (hintSub: string): Promise<BrowserOutcome> => {
    const page = (await authorize(u.deps, request, undefined, silentLogger)).page!
    // The hint as authorize verified it: sealed into the page's context with the request.
    const context = openBackupContext(u.deps.keys, page.context, u.clock.now())
    const hinted = sealBackupContext(u.deps.keys, { ...context, request: { ...context.request, hintSub } }, u.clock.now())
    const sent = await loginThroughLinked(u.deps, hinted, LINKED, silentLogger)
    const tx = sent.cookies[0]!
    return callback(u.deps, LINKED, { state: u.linked.calls.authorize.at(-1)!.state, code: 'naver-code' }, (name) => (name === tx.name ? tx.value : undefined), silentLogger)
  }
  t.equal(await answer(u, through(alice.sub)), 'code backup', 'a hint naming the person is answered')
  t.equal(await answer(u, through(subjectFor(PROVIDER, 'bob'))), 'login_required', 'a hint naming someone else is not')
})

t.test('only the page of a provider that is down lets a linked provider stand in for it', async (t) => {
  const u = await backupUnit({ passkeyWhenHealthy: true })
  const choice = (await authorize(u.deps, request, undefined, silentLogger)).page!
  t.equal(choice.kind === 'outage' && choice.down, false, 'the choice page of a healthy provider')
  t.equal(await refusal(loginThroughLinked(u.deps, choice.context, LINKED, silentLogger)), 'invalid_request', 'offers no way round it')
  t.same(u.linked.calls.authorize, [], 'and sends nobody to the linked provider')
})

t.test('linking needs a login at the linked provider made for the link: an answer from an earlier session there links nothing', async (t) => {
  const link = async (authAgo: number | undefined, reauthenticate?: Record<string, string>): Promise<string> => {
    const u = await backupUnit({}, undefined, reauthenticate)
    u.linked.onExchange = async () => ({ sub: 'alice-at-naver', claims: {}, ...(authAgo === undefined ? {} : { authTime: u.clock.now() - authAgo }) })
    const alice = u.session()
    const cookie = await u.cookie(alice)
    const sent = await startLink(u.deps, alice, LINKED, silentLogger)
    t.equal(u.linked.calls.authorize.at(-1)!.reauthenticate, true, 'the linked provider is asked for a fresh login')
    const tx = sent.cookies[0]!
    const cookies = new Map([[tx.name, tx.value], [u.deps.cookies.session, cookie]])
    const back = await callback(u.deps, LINKED, { state: u.linked.calls.authorize.at(-1)!.state, code: 'naver-code' }, (name) => cookies.get(name), silentLogger)
    const result = new URL(back.location!).searchParams.get('result')!
    return `${result}${(await u.directory.linkedPerson(LINKED, 'alice-at-naver'))?.person.sub === alice.sub ? ' (linked)' : ''}`
  }
  t.equal(await link(0), 'linked (linked)', 'a login made now')
  t.equal(await link(undefined), 'linked (linked)', 'a provider that says nothing of when (plain OAuth 2.0) was sent its reauthenticate parameters')
  t.equal(await link(3600), 'not-fresh', 'a login from an hour ago')
  t.equal(await link(undefined, {}), 'not-fresh', 'a provider that says nothing of when and has no parameters to ask for a new login cannot link')
})

t.test('a linked provider is asked as the site asked: prompt=login sends its reauthenticate parameters, and an answer older than max_age is login_required', async (t) => {
  const { u } = await aliceLinked()
  const through = async (extra: Record<string, string>, authAgo?: number): Promise<string> => {
    u.linked.onExchange = async () => ({ sub: 'alice-at-naver', claims: {}, ...(authAgo === undefined ? {} : { authTime: u.clock.now() - authAgo }) })
    const page = (await authorize(u.deps, { ...request, ...extra }, undefined, silentLogger)).page!
    const sent = await loginThroughLinked(u.deps, page.context, LINKED, silentLogger)
    const asked = u.linked.calls.authorize.at(-1)!
    const tx = sent.cookies[0]!
    const answered = await answer(u, callback(u.deps, LINKED, { state: asked.state, code: 'naver-code' }, (name) => (name === tx.name ? tx.value : undefined), silentLogger))
    return `${asked.reauthenticate === true ? 'reauthenticate ' : ''}${asked.maxAge === undefined ? '' : `max_age=${asked.maxAge} `}${answered}`
  }
  t.equal(await through({}), 'code backup', 'no demand: asked plainly')
  t.equal(await through({ prompt: 'login' }), 'reauthenticate code backup', 'prompt=login: asked for a new login, taken at its word when it gives no auth_time')
  t.equal(await through({ prompt: 'login' }, 7200), 'reauthenticate login_required', 'prompt=login answered from a login two hours old')
  t.equal(await through({ max_age: '60' }, 7200), 'reauthenticate max_age=60 login_required', 'max_age=60 answered from a login two hours old')
  t.equal(await through({ max_age: '60' }, 10), 'reauthenticate max_age=60 code backup', 'max_age=60 met')
})

t.test('a linked provider\'s failed exchange is no outage of the user\'s own provider: no cached login stands in', async (t) => {
  const { u, alice } = await aliceLinked()
  const cookie = await u.cookie({ ...alice, vouchedAt: u.clock.now() - MAX_STALENESS - 60 })
  u.linked.onExchange = async () => { throw transient() }
  const page = (await authorize(u.deps, request, cookie, silentLogger))
  t.equal(page.location !== undefined && new URL(page.location).searchParams.get('code') !== null, true, 'the cached session itself is still served at /authorize')
  const outage = (await authorize(u.deps, request, undefined, silentLogger)).page!
  const sent = await loginThroughLinked(u.deps, outage.context, LINKED, silentLogger)
  const tx = sent.cookies[0]!
  const cookies = new Map([[tx.name, tx.value], [u.deps.cookies.session, cookie]])
  t.equal(await answer(u, callback(u.deps, LINKED, { state: u.linked.calls.authorize.at(-1)!.state, code: 'naver-code' }, (name) => cookies.get(name), silentLogger)), 'temporarily_unavailable')
})

t.test('a passkey logs in only from a page that offers one: never from the offer page\'s context', async (t) => {
  const u = await backupUnit()
  const offered = await upstreamLogin(u)
  t.equal(await refusal(passkeyLoginOptions(u.deps, offered.page!.context)), 'invalid_request', 'the offer page continues an upstream login')
  u.router.up = false
  const outage = (await authorize(u.deps, request, undefined, silentLogger)).page!
  t.equal(await refusal(passkeyLoginOptions(u.deps, outage.context)), 'no refusal', 'the outage page offers one')
})

t.test('the offer continues a login made with prompt=login or max_age=0: the callback already held it to them', async (t) => {
  const u = await backupUnit()
  for (const extra of [{ prompt: 'login' }, { max_age: '0' }]) {
    const started = await authorize(u.deps, { ...request, ...extra }, undefined, silentLogger)
    const tx = started.cookies[0]!
    const offered = await callback(u.deps, PROVIDER, { state: u.router.calls.authorize.at(-1)!.state, code: 'upstream-code' }, (name) => (name === tx.name ? tx.value : undefined), silentLogger)
    t.equal(offered.page?.kind, 'offer', JSON.stringify(extra))
    const session = offered.cookies.find((c) => c.name === u.deps.cookies.session)!.value
    u.clock.advance(30)
    t.equal(await answer(u, continueAfterOffer(u.deps, offered.page!.context, session, silentLogger)), 'code upstream', `${JSON.stringify(extra)}: continued`)
  }
})
