import t from 'tap'
import type { Fault } from '../../harness/gameday/faults.js'
import { cohortFigures, cohortMisses, cohortViolations, directoryRefusal, type StepRun } from '../../harness/gameday/measure.js'
import type { HttpSample } from '../../harness/gameday/recording-browser.js'
import { Recorder, type OpRecord } from '../../harness/gameday/records.js'
import { windowFigures } from '../../harness/gameday/report.js'

// How the game day judges backup login, without a topology: the enrolled users' passkey logins, and which
// 503s are the contract's answer. Times are offsets from an arbitrary epoch.
const BOUNDS = { detectionMs: 1_400, recoveryMs: 2_900 }
const ACR_BACKUP = 'urn:understudy:acr:backup'

function fault (over: Partial<Fault> = {}): Fault {
  return { description: 'a fault', subjects: [], survivingPath: () => true, inject: async () => {}, clear: async () => {}, ...over }
}

function step (over: Partial<StepRun> = {}): StepRun {
  return { fault: fault(), injectedAt: 1_000, until: 5_000, upstreamAlreadyDown: false, directoryDown: false, cohort: true, ...over }
}

function passkey (start: number, outcome: OpRecord['outcome'], acr?: string): OpRecord {
  return { kind: 'passkey', client: 'shop', user: `user-${start}`, start, end: start + 50, outcome, ...(acr ? { acr } : {}) }
}

function sample (over: Partial<HttpSample>): HttpSample {
  return { at: 2_000, ms: 5, target: 'gateway', method: 'POST', path: '/backup/passkey/login', status: 503, refusal: 'temporarily_unavailable', ...over }
}

t.test('the cohort\'s logins in a step: logged in means tokens with acr backup; another sub is counted apart', async (t) => {
  const ops: OpRecord[] = [
    passkey(1_100, 'ok', ACR_BACKUP),
    passkey(1_200, 'ok', 'urn:understudy:acr:upstream'),
    passkey(1_300, 'wrong_user', ACR_BACKUP),
    passkey(1_400, 'temporarily_unavailable'),
    passkey(900, 'ok', ACR_BACKUP),
    passkey(5_000, 'ok', ACR_BACKUP),
    { ...passkey(1_500, 'ok', ACR_BACKUP), kind: 'sso' as const },
  ]
  const figures = cohortFigures(step(), ops, 4)
  t.same(figures, {
    fault: 'a fault',
    enrolled: 4,
    tried: 4,
    loggedIn: 1,
    unavailable: 1,
    wrongSub: 1,
    expected: 'logged-in',
    outcomes: { ok: 2, wrong_user: 1, temporarily_unavailable: 1 },
  }, 'only the passkey logins that started in the step count')
  t.same(cohortMisses(step(), ops).map((o) => o.start), [1_200, 1_300, 1_400], 'the ones to list for the post-mortem')
  t.same(cohortViolations(figures), [
    'enrolled users on new devices: 1/4 logged in with a passkey while "a fault" held (ok 2, wrong_user 1, temporarily_unavailable 1)',
    '1 passkey logins returned another sub than the user\'s',
  ])
})

t.test('what the cohort is expected to do: log in, or be told temporarily_unavailable while the directory is down', async (t) => {
  const cases: Array<[string, Partial<StepRun>, OpRecord[], number]> = [
    ['every one logged in', {}, [passkey(1_100, 'ok', ACR_BACKUP), passkey(1_200, 'ok', ACR_BACKUP)], 0],
    ['one enrolled user never tried', {}, [passkey(1_100, 'ok', ACR_BACKUP)], 1],
    ['the directory down: every one told temporarily_unavailable', { directoryDown: true }, [passkey(1_100, 'temporarily_unavailable'), passkey(1_200, 'temporarily_unavailable')], 0],
    ['the directory down: one logged in anyway', { directoryDown: true }, [passkey(1_100, 'temporarily_unavailable'), passkey(1_200, 'ok', ACR_BACKUP)], 1],
    ['the directory down: one got a 5xx', { directoryDown: true }, [passkey(1_100, 'temporarily_unavailable'), passkey(1_200, 'http5xx')], 1],
    ['the directory down: one never tried', { directoryDown: true }, [passkey(1_100, 'temporarily_unavailable')], 1],
  ]
  for (const [name, over, ops, violations] of cases) {
    const figures = cohortFigures(step(over), ops, 2)
    t.equal(figures.expected, over.directoryDown ? 'temporarily_unavailable' : 'logged-in', name)
    t.equal(cohortViolations(figures).length, violations, name)
  }
})

t.test('a 503 temporarily_unavailable to a passkey login is excused only while a directory fault holds, until the recovery bound after its clearing', async (t) => {
  const steps = [step({ fault: fault({ directoryDown: true }), injectedAt: 1_000, clearedAt: 4_000 })]
  const cases: Array<[string, Partial<HttpSample>, boolean]> = [
    ['during the fault', {}, true],
    ['within the recovery bound after the clearing', { at: 4_000 + BOUNDS.recoveryMs - 1 }, true],
    ['past the recovery bound', { at: 4_000 + BOUNDS.recoveryMs }, false],
    ['before the fault', { at: 999 }, false],
    ['another path', { path: '/token' }, false],
    ['another refusal', { refusal: 'server_error' }, false],
    ['a 500', { status: 500 }, false],
    ['a 502 of the load balancer', { status: 502, refusal: undefined }, false],
  ]
  for (const [name, over, excused] of cases) t.equal(directoryRefusal(sample(over), steps, BOUNDS, 10_000), excused, name)
  t.equal(directoryRefusal(sample({}), [step({ fault: fault({ upstreamDown: true }) })], BOUNDS, 10_000), false, 'an upstream fault excuses nothing')
  t.equal(directoryRefusal(sample({ at: 9_000 }), [step({ fault: fault({ directoryDown: true }), injectedAt: 1_000 })], BOUNDS, 10_000), true, 'a fault not cleared holds to the end of the scenario')
})

t.test('passkey logins are neither returning users nor new users in the rates, and an excused 503 is not a 5xx', async (t) => {
  const rec = new Recorder()
  rec.op({ kind: 'sso', client: 'shop', user: 'a', start: 1_000, end: 1_050, outcome: 'ok' })
  rec.op({ kind: 'new', client: 'shop', user: 'b', start: 1_000, end: 1_050, outcome: 'ok' })
  rec.op(passkey(1_100, 'temporarily_unavailable'))
  rec.sample(sample({ at: 1_100 }))
  rec.sample(sample({ at: 1_200, path: '/token', refusal: undefined, status: 500 }))
  const counted = () => ({ upstreamCalls: 0, logins: 0 })
  const plain = windowFigures(rec, 0, 10_000, counted)
  t.same([plain.returningUserSuccessRate, plain.newUserSuccessRate, plain.http5xx], [1, 1, 2])
  const excusing = windowFigures(rec, 0, 10_000, counted, (s) => s.path === '/backup/passkey/login')
  t.equal(excusing.http5xx, 1, 'the other 5xx still counts')
})
