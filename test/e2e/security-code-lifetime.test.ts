import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { authorizeCode, backChannel, login } from '../helpers/oidc.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

// A stack whose codes live one second: the expiry is real time, not a mocked clock.
let stack: Stack
t.before(async () => { stack = await startStack({ config: { tokens: { code: 1 } } }) })
t.teardown(async () => stack.close())

t.test('an authorization code expires after tokens.code', async (t) => {
  const { browser } = await login(stack, 'shop')
  const { code } = await authorizeCode(stack, 'shop', {}, { browser })
  await sleep(2200)
  const reply = await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code, redirect_uri: CLIENTS.shop.redirectUris[0]! })
  t.equal(reply.status, 400)
  t.equal(reply.json.error, 'invalid_grant', 'an expired code is invalid_grant')
})
