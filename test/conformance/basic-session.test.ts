import t, { type Test } from 'tap'
import { validIdToken } from '../helpers/conformance.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { testClock } from '../helpers/clock.js'
import { backChannel, flipChar, login, type TokenSet } from '../helpers/oidc.js'
import { CLIENTS, RP, startStack, type Stack } from '../helpers/stack.js'

/**
 * OIDF basic OP plan, the session modules (each test is named after its
 * module): prompt, max_age and id_token_hint against a logged-in and a
 * logged-out browser. auth_time is whole seconds, so the re-authentication
 * tests have the upstream record the first login two seconds ago
 * (`loginClock`) instead of waiting.
 */

const upstreamClock = testClock()
let stack: Stack
t.before(async () => { stack = await startStack({ loginClock: upstreamClock.now }) })
t.teardown(async () => stack.close())

const SHOP_CB = CLIENTS.shop.redirectUris[0]!
const atRp = (url: URL) => url.href.startsWith(RP)

function shopParams (extra: Record<string, string> = {}): Record<string, string> {
  return { client_id: 'shop', redirect_uri: SHOP_CB, response_type: 'code', scope: 'openid', state: 'session', ...extra }
}

/** Follows an authorization request in `browser`; answers whether the upstream showed its login form, and where it ended. */
async function authorize (browser: Browser, params: Record<string, string>): Promise<{ sawForm: boolean, landed: BrowserResponse }> {
  const first = await browser.follow(`${stack.issuer}/authorize?${new URLSearchParams(params)}`, { stopAt: atRp })
  if (first.status !== 200) return { sawForm: false, landed: first }
  return { sawForm: true, landed: await browser.submitForm(first.text, first.url, { login: 'alice' }, { stopAt: atRp }) }
}

/** The ID token for the code `landed` carries. */
async function idTokenOf (t: Test, landed: BrowserResponse): Promise<Record<string, unknown>> {
  const code = new URL(landed.location!).searchParams.get('code')
  t.ok(code, `a code (${landed.location})`)
  const reply = await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code: code ?? '', redirect_uri: SHOP_CB })
  return validIdToken(t, stack, reply.json.id_token, { client: 'shop' })
}

function errorAtRp (t: Test, landed: BrowserResponse, errors: RegExp, message: string): void {
  const query = new URL(landed.location ?? SHOP_CB).searchParams
  t.ok(landed.location?.startsWith(`${SHOP_CB}?`), `${message}: at the redirect URI`)
  t.match(query.get('error'), errors, `${message}: ${query.get('error')}`)
  t.equal(query.get('state'), 'session', `${message}: the state`)
  t.equal(query.get('iss'), stack.issuer, `${message}: iss`)
  t.notOk(query.has('code'), `${message}: no code`)
}

/** A browser logged in as `user`, with the first ID token. */
async function loggedIn (user = 'alice'): Promise<{ browser: Browser, tokens: TokenSet, first: Record<string, unknown> }> {
  const { browser, tokens } = await login(stack, 'shop', {}, { user })
  return { browser, tokens, first: JSON.parse(Buffer.from(tokens.id_token.split('.')[1]!, 'base64url').toString()) }
}

/** As loggedIn, with the upstream recording that login `seconds` ago. */
async function loggedInAgo (seconds: number): ReturnType<typeof loggedIn> {
  upstreamClock.advance(-seconds)
  try {
    return await loggedIn()
  } finally {
    upstreamClock.advance(seconds)
  }
}

t.test('oidcc-prompt-none-not-logged-in: prompt=none without a session is an error that asks for UI, at the redirect URI', async (t) => {
  const { sawForm, landed } = await authorize(new Browser(), shopParams({ prompt: 'none' }))
  t.notOk(sawForm, 'no login form')
  errorAtRp(t, landed, /^(login_required|interaction_required|session_selection_required|consent_required)$/, 'prompt=none')
})

t.test('oidcc-prompt-none-logged-in: prompt=none with a session answers at once, same sub and auth_time', async (t) => {
  const { browser, first } = await loggedIn()
  const { sawForm, landed } = await authorize(browser, shopParams({ prompt: 'none' }))
  t.notOk(sawForm, 'no login form')
  const second = await idTokenOf(t, landed)
  t.equal(second.sub, first.sub)
  t.equal(second.auth_time, first.auth_time)
})

t.test('oidcc-prompt-login: prompt=login makes a logged-in user authenticate again, with a later auth_time', async (t) => {
  const { browser, first } = await loggedInAgo(2)
  const { sawForm, landed } = await authorize(browser, shopParams({ prompt: 'login' }))
  t.ok(sawForm, 'the upstream shows its login form again')
  const second = await idTokenOf(t, landed)
  t.equal(second.sub, first.sub)
  t.ok((second.auth_time as number) > (first.auth_time as number), `auth_time moved on (${String(first.auth_time)} → ${String(second.auth_time)})`)
})

t.test('oidcc-max-age-1: a login older than max_age=1 is made again, with a later auth_time', async (t) => {
  const { browser, first } = await loggedInAgo(2)
  const { sawForm, landed } = await authorize(browser, shopParams({ max_age: '1' }))
  t.ok(sawForm, 'the upstream shows its login form again')
  const second = await idTokenOf(t, landed)
  t.equal(second.sub, first.sub)
  t.ok((second.auth_time as number) > (first.auth_time as number), 'auth_time moved on')
})

t.test('oidcc-max-age-10000: a login within max_age is reused, and the ID token carries auth_time', async (t) => {
  const { browser, first } = await loggedIn()
  const { sawForm, landed } = await authorize(browser, shopParams({ max_age: '10000' }))
  t.notOk(sawForm, 'no login form')
  const second = await idTokenOf(t, landed)
  t.equal(second.auth_time, first.auth_time, 'auth_time of the original login (required with max_age)')
})

t.test('oidcc-id-token-hint: prompt=none with the ID token of the logged-in user as a hint answers at once', async (t) => {
  const { browser, tokens, first } = await loggedIn()
  const { sawForm, landed } = await authorize(browser, shopParams({ prompt: 'none', id_token_hint: tokens.id_token }))
  t.notOk(sawForm)
  t.equal((await idTokenOf(t, landed)).sub, first.sub, 'the same user')
})

t.test('an id_token_hint naming another user is never answered from this session', async (t) => {
  const alice = await loggedIn('alice')
  const bob = await loggedIn('bob')
  errorAtRp(t, (await authorize(alice.browser, shopParams({ prompt: 'none', id_token_hint: bob.tokens.id_token }))).landed, /^login_required$/, 'prompt=none with bob\'s hint in alice\'s browser')
  const started = await alice.browser.fetch(`${stack.issuer}/authorize?${new URLSearchParams(shopParams({ id_token_hint: bob.tokens.id_token }))}`)
  t.ok(stack.upstream.regions.some((r) => started.location?.startsWith(`${r.url}/`)), 'without prompt=none the user is sent to the upstream to log in')
})

t.test('an id_token_hint that is not an ID token of this issuer is an error at the redirect URI', async (t) => {
  const { browser, tokens } = await loggedIn()
  const [header, payload, signature] = tokens.id_token.split('.') as [string, string, string]
  errorAtRp(t, (await authorize(browser, shopParams({ prompt: 'none', id_token_hint: `${header}.${payload}.${flipChar(signature, 5)}` }))).landed, /^invalid_request$/, 'a forged signature')
  errorAtRp(t, (await authorize(browser, shopParams({ prompt: 'none', id_token_hint: 'not-a-jwt' }))).landed, /^invalid_request$/, 'not a JWT')
})
