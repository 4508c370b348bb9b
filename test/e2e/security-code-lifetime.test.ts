import t from 'tap'
import { testClock } from '../helpers/clock.js'
import { authorizeCode, backChannel, login } from '../helpers/oidc.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

// The gateway's clock is the test's: a code is made old by moving it, not by waiting.
const clock = testClock()
let stack: Stack
t.before(async () => { stack = await startStack({ config: { tokens: { code: 10 } }, now: clock.now }) })
t.teardown(async () => stack.close())

t.test('an authorization code expires after tokens.code', async (t) => {
  const { browser } = await login(stack, 'shop')
  const { code } = await authorizeCode(stack, 'shop', {}, { browser })
  clock.advance(11)
  const reply = await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code, redirect_uri: CLIENTS.shop.redirectUris[0]! })
  t.equal(reply.status, 400)
  t.equal(reply.json.error, 'invalid_grant', 'an expired code is invalid_grant')
})
