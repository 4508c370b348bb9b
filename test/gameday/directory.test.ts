import t from 'tap'
import { freePort } from '../../harness/free-port.js'
import { renderMarkdown } from '../../harness/gameday/report-md.js'
import { runGameday } from '../../harness/gameday/run.js'
import { noPostgres } from '../directory/postgres-schema.js'
import { noRedis } from '../helpers/redis.js'
import { SHORT, expectations, reportDir } from './expectations.js'

// The directory's game day, in its short form: the gateways' shared PostgreSQL cut off (through their fault
// proxies) while the upstream works, then the whole upstream down as well.
t.setTimeout(240_000)

t.test('the directory\'s database unreachable: upstream, SSO and cached logins go on, only the passkey logins are told temporarily_unavailable', { skip: noRedis || noPostgres }, async (t) => {
  // 30 s: each of the two steps holds its fault for half of its 15 s. The cached logins asked for below come from the
  // single-page app's refreshes (maxStaleness 5 s): a 5 s hold of the upstream's outage saw none of them once in a
  // clean-clone CI run (a loaded machine makes fewer operations), so it holds 7.5 s.
  const report = await runGameday({ scenarios: ['directory'], durationMs: 30_000, reportDir: await reportDir(t), ...SHORT })
  expectations(t, report, 'directory')
  const s = report.scenarios[0]!
  const [cut, upstreamGone] = s.steps
  t.match(cut!.detectedBy, /^monitor: gateway-[ab]: the directory does not answer/, 'the directory\'s loss is seen on the admin API')
  t.match(cut!.failoverBy, /^new login at /, 'a new user logged in through the upstream while the directory was down')
  t.match(upstreamGone!.fault, /the whole upstream/)
  t.same(s.cohort, [{
    fault: 'the whole upstream (every region) down (connections refused)',
    enrolled: 4,
    tried: 4,
    loggedIn: 0,
    unavailable: 4,
    wrongSub: 0,
    expected: 'temporarily_unavailable',
    outcomes: { temporarily_unavailable: 4 },
  }], 'each enrolled user\'s passkey login was told temporarily_unavailable, and nobody got another sub')
  t.equal(s.directoryRefusals, 4, 'their 503s to the page script are the contract\'s answer, not counted as 5xx')
  t.ok(s.cachedLogins > 0, 'returning users were served from cached logins while both were down')
  const markdown = renderMarkdown(report)
  t.match(markdown, /\| directory \|[^\n]*\| 4\/4 told temporarily_unavailable \(directory down\) \| 0 \|/, 'the results table says so, next to 0 5xx')
  t.match(markdown, '4 passkey logins were answered 503 temporarily_unavailable while the directory was down')
})

t.test('a PostgreSQL that does not answer stops the game day before anything starts, naming PostgreSQL and what to do, never the password', async (t) => {
  const port = await freePort()
  const failure = await runGameday({ scenarios: ['kong'], durationMs: 5_000, reportDir: await reportDir(t), databaseUrl: `postgres://postgres:secret@127.0.0.1:${port}/test` })
    .then(() => undefined, (err: Error) => err)
  t.match(failure?.message, new RegExp(`^the game day's gateways share their directory \\(backup login\\) in PostgreSQL, and PostgreSQL at postgres://127\\.0\\.0\\.1:${port}/test cannot be used: .+\\. Start it \\(\\.ci/run does\\), or name another with --database URL$`))
  t.notMatch(failure?.message, 'secret')
})
