import t from 'tap'
import { admin, ADMIN } from '../helpers/admin.js'
import { Browser } from '../../harness/browser.js'
import { authorizeUrl, redirectParams, startStack } from '../helpers/stack.js'

t.test('Retry-After with temporarily_unavailable follows the live breaker policy, not the config', async (t) => {
  const s = await startStack({ config: { admin: ADMIN }, provider: { breaker: { resetTimeout: '40s' } } })
  t.teardown(() => s.close())
  for (const region of ['primary', 'secondary']) t.equal((await admin(s, 'POST', `/admin/breakers/idp/${region}/open`)).status, 200)

  /** What a new user (no session) is told while every breaker is open. */
  const retryAfter = async (): Promise<string | null> => {
    const answer = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
    t.equal(redirectParams(answer).get('error'), 'temporarily_unavailable')
    return answer.headers.get('retry-after')
  }
  t.equal(await retryAfter(), '40', 'the config\'s resetTimeout to begin with')

  for (const region of ['primary', 'secondary']) t.equal((await admin(s, 'PATCH', `/admin/breakers/idp/${region}`, { resetTimeout: '7s' })).status, 200)
  t.equal(await retryAfter(), '7', 'a policy PATCHed through the admin API applies at once')

  t.equal((await admin(s, 'PATCH', '/admin/breakers/idp/secondary', { resetTimeout: '3s' })).status, 200)
  t.equal(await retryAfter(), '3', 'the region that may let a trial through first')

  for (const region of ['primary', 'secondary']) t.equal((await admin(s, 'DELETE', `/admin/breakers/idp/${region}/policy`)).status, 200)
  t.equal(await retryAfter(), '40', 'back to the config\'s policy')
})
