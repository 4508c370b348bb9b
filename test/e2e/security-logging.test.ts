import t from 'tap'
import { Browser } from '../../harness/browser.js'
import { backChannel, basic, pkcePair, redeemCode, refresh, request, sessionCookie, userinfo, type TokenSet } from '../helpers/oidc.js'
import { authorizeUrl, CLIENTS, RP, startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
t.before(async () => { stack = await startStack() })
t.teardown(async () => stack.close())

const JWT = /eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/
const SHOP_CB = CLIENTS.shop.redirectUris[0]!

t.test('a full flow leaves no code, state, token, secret, cookie or authorization header in the logs', async (t) => {
  const secrets = new Map<string, string>([
    ['shop client secret', 'shop-secret'],
    ['upstream client secret', 'upstream-secret'],
    ['Basic authorization header', basic('shop', 'shop-secret').slice('Basic '.length)],
  ])
  const keep = (name: string, value: string | null | undefined): string => {
    if (!value) throw new Error(`no ${name} to look for`)
    secrets.set(name, value)
    return value
  }
  const browser = new Browser()
  const { verifier, challenge } = pkcePair()
  keep('code_verifier', verifier)
  const state = keep('RP state', `rp-state-${pkcePair().verifier}`)
  const nonce = keep('nonce', `nonce-${pkcePair().verifier}`)

  // Drive the login by hand to see what travels through the gateway's URLs.
  const loginPage = await browser.follow(authorizeUrl(stack.issuer, 'shop', { state, nonce, code_challenge: challenge, code_challenge_method: 'S256' }), { stopAt: (u) => u.href.startsWith(RP) })
  t.equal(loginPage.status, 200, 'the upstream shows its login form')
  const atCallback = await browser.submitForm(loginPage.text, loginPage.url, { login: 'alice' }, { stopAt: (u) => u.href.startsWith(`${stack.issuer}/callback/`) })
  const upstream = new URL(atCallback.location!).searchParams
  keep('upstream code', upstream.get('code'))
  keep('upstream state', upstream.get('state'))
  const landed = await browser.follow(atCallback.location!, { stopAt: (u) => u.href.startsWith(RP) })
  const response = new URL(landed.location!).searchParams
  t.equal(response.get('state'), state)
  const code = keep('authorization code', response.get('code'))
  keep('session cookie', sessionCookie(stack, browser))

  const tokens = await redeemCode(stack, 'shop', code, { code_verifier: verifier })
  keep('access token', tokens.access_token)
  keep('refresh token', tokens.refresh_token)
  keep('ID token', tokens.id_token)
  t.equal((await userinfo(stack, tokens.access_token)).status, 200)
  t.equal((await request(stack, '/userinfo', { form: { access_token: tokens.access_token } })).status, 200)
  const refreshed = (await refresh(stack, 'shop', tokens.refresh_token)).json as TokenSet
  keep('rotated access token', refreshed.access_token)
  keep('rotated refresh token', refreshed.refresh_token)
  keep('rotated ID token', refreshed.id_token)

  // Failures log too: a reused code, a reused refresh token, a wrong secret, a bad bearer token.
  t.equal((await redeemCode(stack, 'shop', code, { code_verifier: verifier }).catch(() => 'refused')), 'refused')
  t.equal((await refresh(stack, 'shop', tokens.refresh_token)).status, 400)
  t.equal((await request(stack, '/token', { form: { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token, client_id: 'shop', client_secret: 'shop-secret-but-wrong' } })).status, 401)
  t.equal((await userinfo(stack, `${refreshed.access_token}x`)).status, 401)

  const second = await loginAgain(browser)
  keep('second access token', second.access_token)
  keep('second refresh token', second.refresh_token)
  t.equal((await backChannel(stack, '/introspect', 'shop', { token: second.access_token })).json.active, true)
  t.equal((await request(stack, '/introspect', { form: { token: second.refresh_token, client_id: 'shop', client_secret: 'shop-secret' } })).json.active, true)
  t.equal((await backChannel(stack, '/revoke', 'shop', { token: second.refresh_token })).status, 200)
  t.equal((await backChannel(stack, '/revoke', 'shop', { token: second.access_token })).status, 200)

  const loggedOut = await browser.fetch(`${stack.issuer}/logout?${new URLSearchParams({ id_token_hint: second.id_token, post_logout_redirect_uri: CLIENTS.shop.postLogoutRedirectUris[0]!, state })}`)
  t.equal(loggedOut.status, 302)

  t.ok(stack.logs.length > 10, `the gateway logged (${stack.logs.length} lines)`)
  t.ok(stack.logs.some((line) => line.includes('/callback/idp')), 'request lines are logged, so their masking is what is tested')
  for (const [name, value] of secrets) {
    const leaks = stack.logs.filter((line) => line.includes(value))
    t.same(leaks, [], `the ${name} is not logged`)
  }
  t.same(stack.logs.filter((line) => JWT.test(line)), [], 'nothing JWT- or JWE-shaped is logged (upstream tokens included)')
})

/** A second code for shop by SSO in `browser`, redeemed with client_secret_post. */
async function loginAgain (browser: Browser): Promise<TokenSet> {
  const landed = await browser.fetch(authorizeUrl(stack.issuer, 'shop', { state: 'second' }))
  const code = new URL(landed.location!).searchParams.get('code')!
  const reply = await request(stack, '/token', { form: { grant_type: 'authorization_code', code, redirect_uri: SHOP_CB, client_id: 'shop', client_secret: 'shop-secret' } })
  return reply.json as TokenSet
}
