import * as oidc from 'openid-client'
import t from 'tap'
import { Browser } from '../../harness/browser.js'
import { sessionCookie } from '../helpers/oidc.js'
import { authorizationRequest, discoverClient } from '../helpers/relying-party.js'
import { browserLogin, startStack, type Stack } from '../helpers/stack.js'

// A relying party that sends id_token_hint asks for one user. Whoever comes back from the upstream
// must be that user, or the site gets no code and the browser no new session (OIDC Core §3.1.2.1).

let s: Stack
t.before(async () => { s = await startStack() })
t.teardown(async () => s.close())

async function relyingParty () {
  return discoverClient(s.issuer, 'shop')
}

/** openid-client's code + PKCE login of `user` in `browser`, with `extra` authorization parameters: the tokens, or the OAuth error. */
async function login (browser: Browser, user: string, extra: Record<string, string> = {}): Promise<{ tokens?: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, error?: string, code: string | null }> {
  const config = await relyingParty()
  const { url, checks } = await authorizationRequest(config, 'shop', extra)
  const landed = new URL((await browserLogin(browser, url, user)).location!)
  const code = landed.searchParams.get('code')
  try {
    return { tokens: await oidc.authorizationCodeGrant(config, landed, checks), code }
  } catch (err) {
    return { error: (err as { error?: string }).error ?? String(err), code }
  }
}

async function idTokenOf (user: string): Promise<{ idToken: string, sub: string }> {
  const { tokens } = await login(new Browser(), user)
  return { idToken: tokens!.id_token!, sub: tokens!.claims()!.sub }
}

t.test('a hint naming one user, answered by another user logging in at the upstream, gets login_required, no code and no session', async (t) => {
  const alice = await idTokenOf('alice')
  const browser = new Browser()
  const answer = await login(browser, 'mallory', { id_token_hint: alice.idToken })
  t.equal(answer.error, 'login_required', 'the site is told the user it named is not logged in')
  t.equal(answer.code, null, 'no code')
  t.equal(sessionCookie(s, browser), undefined, 'no gateway session for the other user')
})

t.test('a browser holding another user\'s session keeps that session, unchanged, when the hint names someone else', async (t) => {
  const alice = await idTokenOf('alice')
  const browser = new Browser()
  const carol = await login(browser, 'carol')
  t.ok(carol.tokens, 'carol is logged in')
  const before = sessionCookie(s, browser)
  t.ok(before, 'carol has a gateway session')
  // carol's upstream session signs her in again at the upstream without a form.
  const answer = await login(browser, 'carol', { id_token_hint: alice.idToken })
  t.equal(answer.error, 'login_required')
  t.equal(answer.code, null)
  t.equal(sessionCookie(s, browser), before, 'the session cookie is not replaced')
})

t.test('a hint naming the user who logs in gets a code for that user', async (t) => {
  const alice = await idTokenOf('alice')
  const answer = await login(new Browser(), 'alice', { id_token_hint: alice.idToken })
  t.equal(answer.error, undefined)
  t.equal(answer.tokens?.claims()!.sub, alice.sub)
})
