import t from 'tap'
import { backChannel, claimsOf, login, userinfo, type Reply } from '../helpers/oidc.js'
import { startStack, type Stack } from '../helpers/stack.js'

// RFC 6749 §6: a refresh may ask for a narrower scope, which narrows only that response;
// the new refresh token keeps the scope originally granted.
let stack: Stack
t.before(async () => { stack = await startStack() })
t.teardown(async () => stack.close())

async function refreshWith (refreshToken: string, scope?: string): Promise<Reply> {
  return backChannel(stack, '/token', 'shop', { grant_type: 'refresh_token', refresh_token: refreshToken, ...(scope === undefined ? {} : { scope }) })
}

t.test('a narrower scope on refresh narrows that response only; the rotated refresh token keeps the granted scope', async (t) => {
  const { tokens } = await login(stack, 'shop', { scope: 'openid profile email' })
  t.equal(tokens.scope, 'openid profile email')

  const narrow = await refreshWith(tokens.refresh_token, 'openid profile')
  t.equal(narrow.status, 200, narrow.text)
  t.equal(narrow.json.scope, 'openid profile', 'the response names the narrower scope')
  t.equal(claimsOf(narrow.json.access_token).scope, 'openid profile', 'the access token carries it')
  t.notOk('email' in claimsOf(narrow.json.id_token), 'the ID token releases no email claim')
  t.ok('name' in claimsOf(narrow.json.id_token), 'but the profile claims')
  const narrowInfo = await userinfo(stack, narrow.json.access_token)
  t.equal(narrowInfo.status, 200)
  t.notOk('email' in narrowInfo.json, 'userinfo releases no email for the narrower access token')

  const wide = await refreshWith(narrow.json.refresh_token, 'openid profile email')
  t.equal(wide.status, 200, `the rotated refresh token still grants the original scope: ${wide.text}`)
  t.equal(wide.json.scope, 'openid profile email')
  t.equal(claimsOf(wide.json.id_token).email, 'alice@example.com', 'the email claim is back')

  const again = await refreshWith(wide.json.refresh_token, 'openid')
  t.equal(again.json.scope, 'openid')
  const plain = await refreshWith(again.json.refresh_token)
  t.equal(plain.status, 200)
  t.equal(plain.json.scope, 'openid profile email', 'a refresh without scope gets the whole granted scope')
})

t.test('a refresh may never widen the scope beyond the one granted', async (t) => {
  const { tokens } = await login(stack, 'shop', { scope: 'openid profile' })
  const wider = await refreshWith(tokens.refresh_token, 'openid profile email')
  t.equal(wider.status, 400)
  t.equal(wider.json.error, 'invalid_scope')
  const ok = await refreshWith(tokens.refresh_token, 'openid')
  t.equal(ok.status, 200, 'a refused widening does not rotate the token away')
  t.equal(ok.json.scope, 'openid')
})
