import type { Test } from 'tap'
import { authorizationRequest, discoverClient } from './relying-party.js'
import * as oidc from 'openid-client'
import { Browser } from '../../harness/browser.js'
import { browserLogin, CLIENTS, type Stack } from './stack.js'

/**
 * The foundation's end-to-end flow with openid-client as the relying party:
 * discovery, code + PKCE, token, userinfo, refresh, logout and SSO. It runs
 * against whatever stack `start` builds (the memory store, the Redis store).
 */
export function openidClientSuite (t: Test, start: () => Promise<Stack>): void {
  let stack: Stack
  t.before(async () => { stack = await start() })
  t.teardown(async () => stack.close())

  const discover = async (client: 'shop' | 'news' | 'spa') => discoverClient(stack.issuer, client)

  /** Runs code + PKCE for `client` in `browser` and redeems the code with openid-client. */
  async function login (browser: Browser, client: 'shop' | 'news' | 'spa', user = 'alice') {
    const config = await discover(client)
    const { url, checks } = await authorizationRequest(config, client)
    const landed = await browserLogin(browser, url, user)
    const tokens = await oidc.authorizationCodeGrant(config, new URL(landed.location!), checks)
    return { config, tokens }
  }

  t.test('an openid-client relying party completes discovery, code + PKCE, token, userinfo, refresh and logout', async (t) => {
    const browser = new Browser()
    const { config, tokens } = await login(browser, 'shop')
    const claims = tokens.claims()!
    t.equal(claims.iss, stack.issuer)
    t.equal(claims.aud, 'shop')
    t.equal(claims.azp, 'shop')
    t.equal(claims.acr, 'urn:understudy:acr:upstream')
    t.type(claims.auth_time, 'number')
    t.equal(claims.email, 'alice@example.com')
    t.ok(tokens.refresh_token, 'a refresh token is issued on every code grant')

    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)
    t.equal(info.sub, claims.sub)
    t.equal(info.email, 'alice@example.com')

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!)
    const again = refreshed.claims()!
    t.equal(again.sub, claims.sub, 'refresh keeps sub')
    t.equal(again.auth_time, claims.auth_time, 'refresh keeps auth_time')
    t.equal(again.iss, claims.iss)
    t.not(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotates')

    const logoutUrl = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: CLIENTS.shop.postLogoutRedirectUris[0]!, state: 'bye' })
    const loggedOut = await browser.fetch(logoutUrl.href)
    t.equal(loggedOut.status, 302)
    t.equal(loggedOut.location, `${CLIENTS.shop.postLogoutRedirectUris[0]}?state=bye`)
    const failed = await oidc.refreshTokenGrant(config, refreshed.refresh_token!).then(() => undefined, (err: { error?: string }) => err)
    t.equal(failed?.error, 'invalid_grant', 'logout revokes the session\'s refresh tokens')
  })

  t.test('a returning user logs in to a second client by SSO, with no upstream login', async (t) => {
    const browser = new Browser()
    const first = await login(browser, 'shop', 'bob')
    const second = await login(browser, 'news', 'nobody-else')
    t.equal(second.tokens.claims()!.sub, first.tokens.claims()!.sub, 'same user, same sub')
    t.equal(second.tokens.claims()!.auth_time, first.tokens.claims()!.auth_time, 'SSO keeps auth_time')
    t.equal(second.tokens.claims()!.email, 'bob@example.com')
  })

  t.test('a public client logs in with PKCE and no secret', async (t) => {
    const { tokens } = await login(new Browser(), 'spa', 'carol')
    t.equal(tokens.claims()!.aud, 'spa')
  })

  t.test('different upstream users get different subs', async (t) => {
    const a = await login(new Browser(), 'shop', 'dave')
    const b = await login(new Browser(), 'shop', 'erin')
    t.not(a.tokens.claims()!.sub, b.tokens.claims()!.sub)
  })

  t.test('an ID token leaked from a relying party logs nobody out: the logout URL it makes ends nothing in a browser without the session', async (t) => {
    const victim = new Browser()
    const { config, tokens } = await login(victim, 'shop', 'frank')
    const logoutUrl = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: CLIENTS.shop.postLogoutRedirectUris[0]!, state: 'x' })
    const attacker = await new Browser().fetch(logoutUrl.href)
    t.equal(attacker.location, `${CLIENTS.shop.postLogoutRedirectUris[0]}?state=x`, 'the attacker\'s browser is sent back as usual')
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!)
    t.equal(refreshed.claims()!.sub, tokens.claims()!.sub, 'the victim\'s refresh token still works')
    const sso = await login(victim, 'news', 'nobody-else')
    t.equal(sso.tokens.claims()!.sub, tokens.claims()!.sub, 'and the victim\'s session still logs in to another client by SSO')
  })
}
