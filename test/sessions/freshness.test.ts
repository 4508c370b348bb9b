import t from 'tap'
import { staleness, standing, type Standing } from '../../src/sessions/freshness.js'

// An injected now: a session is made old by its vouchedAt, never by waiting.
const NOW = 1_750_000_000
const POLICY = { maxStaleness: 8 * 3600, outageMaxStaleness: 7 * 86_400 }

t.test('a session\'s standing follows the time since the upstream last vouched for the user', async (t) => {
  const cases: Array<[string, number, Standing]> = [
    ['vouched just now', 0, 'fresh'],
    ['vouched an hour ago', 3600, 'fresh'],
    ['vouched exactly maxStaleness ago', POLICY.maxStaleness, 'fresh'],
    ['vouched a second past maxStaleness', POLICY.maxStaleness + 1, 'outage-only'],
    ['vouched three days ago', 3 * 86_400, 'outage-only'],
    ['vouched exactly outageMaxStaleness ago', POLICY.outageMaxStaleness, 'outage-only'],
    ['vouched a second past outageMaxStaleness', POLICY.outageMaxStaleness + 1, 'expired'],
    ['vouched a minute "in the future" (another region\'s clock ahead)', -60, 'fresh'],
  ]
  for (const [name, age, expected] of cases) t.equal(standing({ vouchedAt: NOW - age }, POLICY, NOW), expected, name)
})

t.test('a policy with no outage allowance has no outage-only standing', async (t) => {
  const strict = { maxStaleness: 600, outageMaxStaleness: 600 }
  t.equal(standing({ vouchedAt: NOW - 600 }, strict, NOW), 'fresh')
  t.equal(standing({ vouchedAt: NOW - 601 }, strict, NOW), 'expired')
})

t.test('staleness is the time since the upstream vouched, never negative', async (t) => {
  t.equal(staleness({ vouchedAt: NOW - 90 }, NOW), 90)
  t.equal(staleness({ vouchedAt: NOW + 90 }, NOW), 0, 'a vouch stamped ahead of this clock counts as now')
})
