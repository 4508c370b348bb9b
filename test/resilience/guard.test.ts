import t, { type Test } from 'tap'
import type { Logger } from '../../src/log.js'
import { firstFailureOpens, Guard, type GuardFailure, type GuardOptions, type GuardTransition } from '../../src/resilience/guard.js'

type Work = (signal: AbortSignal) => Promise<string>

/** A guard that runs the work it is given; refusals become a failure the test can read. */
function guard (t: Test, options: Partial<GuardOptions<[Work], string>> = {}): Guard<[Work], string> {
  const g = new Guard<[Work], string>({
    name: 'test',
    policy: firstFailureOpens(50, 60_000),
    action: async (signal, work) => work(signal),
    whenUnavailable: { mode: 'fail-closed', error: (failure) => Object.assign(new Error(`unavailable: ${failure.kind}`), { failure }) },
    ...options,
  })
  t.teardown(() => g.shutdown())
  return g
}

/** A promise of the guard's next move into `state`, fed by its own transitions (no polling). */
function transitions (): { onTransition: (tr: GuardTransition) => void, next: (state: GuardTransition['to']) => Promise<GuardTransition> } {
  const waiting: Array<{ state: string, resolve: (tr: GuardTransition) => void }> = []
  return {
    onTransition: (tr) => {
      for (const w of waiting.splice(0)) {
        if (w.state === tr.to) w.resolve(tr)
        else waiting.push(w)
      }
    },
    next: (state) => new Promise((resolve) => waiting.push({ state, resolve })),
  }
}

const hang: Work = (signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
const fail: Work = async () => { throw new Error('connection refused') }
const ok: Work = async () => 'answer'

function failureOf (err: unknown): GuardFailure {
  return (err as { failure: GuardFailure }).failure
}

t.test('each call gets a fresh signal, cleared when the work answers', async (t) => {
  const g = guard(t)
  const signals: AbortSignal[] = []
  const keep: Work = async (signal) => { signals.push(signal); return 'answer' }
  t.equal(await g.run(keep), 'answer')
  t.equal(await g.run(keep), 'answer')
  t.equal(signals.length, 2)
  t.not(signals[0], signals[1], 'a new signal per call')
  t.notOk(signals[0]!.aborted || signals[1]!.aborted, 'an answered call is never aborted')
})

t.test('work that outlives the timeout is aborted through its signal and counts as a failure, whatever the filter says', async (t) => {
  let seen: AbortSignal | undefined
  const g = guard(t, { isFailure: () => false })
  const err = await g.run((signal) => { seen = signal; return hang(signal) }).then(() => undefined, (e: unknown) => e)
  t.equal(failureOf(err).kind, 'timeout')
  // opossum's timer, set before the work starts, answers the caller; the work's own abort comes a tick later.
  const signal = seen!
  await new Promise((resolve) => signal.aborted ? resolve(undefined) : signal.addEventListener('abort', resolve))
  t.ok(signal.aborted, 'the work was told to stop')
  t.equal(g.state, 'open', 'the first failure opened the guard')
})

t.test('work that reads no signal (signal: false): one never-aborted signal, and the deadline still fails a call that does not answer and opens the guard', async (t) => {
  const { onTransition, next } = transitions()
  const g = guard(t, { signal: false, latency: false, onTransition })
  const signals: AbortSignal[] = []
  const keep: Work = async (signal) => { signals.push(signal); return 'answer' }
  t.equal(await g.run(keep), 'answer')
  t.equal(await g.run(keep), 'answer')
  t.equal(signals[0], signals[1], 'no signal is made per call')
  const opened = next('open')
  const err = await g.run(() => new Promise<string>(() => undefined)).then(() => undefined, (e: unknown) => e)
  t.equal(failureOf(err).kind, 'timeout', 'the deadline answers the caller')
  t.equal((await opened).to, 'open', 'and the timeout opens the guard')
  t.notOk(signals[0]!.aborted, 'the shared signal never aborts')
  t.equal(failureOf(await g.run(ok).then(() => undefined, (e: unknown) => e)).kind, 'open', 'calls are refused while open')
  t.equal(g.stats().latencyMean, -1, 'no latencies are kept (latency: false): opossum reports -1')
})

t.test('a fail-closed guard refuses at once while open, with the caller\'s error, without running the work', async (t) => {
  const g = guard(t)
  await t.rejects(g.run(fail), { message: 'unavailable: failed' })
  let ran = false
  const err = await g.run(async () => { ran = true; return 'answer' }).then(() => undefined, (e: unknown) => e)
  t.equal(failureOf(err).kind, 'open')
  t.notOk(ran, 'the work never ran')
  t.type(g.downSince, 'number', 'down since the first failure')
})

t.test('a fail-open guard answers from its fallback when the work fails and while it is open', async (t) => {
  const calls: string[] = []
  const g = new Guard<[string], string>({
    name: 'counter',
    policy: firstFailureOpens(50, 60_000),
    action: async (_signal, key) => { calls.push(key); throw new Error('down') },
    whenUnavailable: { mode: 'fail-open', fallback: async (key) => `local ${key}` },
  })
  t.teardown(() => g.shutdown())
  t.equal(await g.run('a'), 'local a', 'a failure answers from the fallback')
  t.equal(g.state, 'open')
  t.equal(await g.run('b'), 'local b', 'an open guard answers from the fallback')
  t.same(calls, ['a'], 'the open guard did not run the work')
})

t.test('calls beyond the capacity are refused at once as capacity, before opossum: not counted, the guard stays closed', async (t) => {
  let failures = 0
  const g = guard(t, { policy: { ...firstFailureOpens(5_000, 60_000), capacity: 2 }, onFailure: () => { failures++ } })
  const releases: Array<() => void> = []
  const held = [0, 1].map(() => g.run(() => new Promise<string>((resolve) => releases.push(() => resolve('answer')))))
  t.equal(g.inFlight, 2, 'full')
  let ran = 0
  // One failure would open this guard (firstFailureOpens): a refusal counted as one would forge an outage.
  const refused = await Promise.all([0, 1, 2].map(() => g.run(async () => { ran++; return 'answer' }).then(() => undefined, (e: unknown) => e)))
  t.same(refused.map((err) => failureOf(err).kind), ['capacity', 'capacity', 'capacity'])
  t.equal(ran, 0, 'the refused work never ran')
  t.equal(g.state, 'closed', 'the guard stays closed')
  t.equal(failures, 0, 'no failure reported')
  t.match(g.stats(), { fires: 2, failures: 0 }, 'the refusals never reached opossum')
  for (const release of releases) release()
  t.same(await Promise.all(held), ['answer', 'answer'])
  t.equal(g.inFlight, 0)
  t.equal(await g.run(ok), 'answer', 'with room again, a call goes through')
  g.open()
  t.equal(failureOf(await g.run(ok).catch((e: unknown) => e)).kind, 'open', 'an open guard still refuses as open')
})

t.test('errors the filter does not count pass through unchanged and leave the guard closed', async (t) => {
  let failures = 0
  const refused = new Error('the answer is no')
  const g = guard(t, { isFailure: (err) => err !== refused, onFailure: () => { failures++ } })
  await t.rejects(g.run(async () => { throw refused }), refused)
  t.equal(g.state, 'closed')
  t.equal(failures, 0, 'not counted')
  await t.rejects(g.run(fail), { message: 'unavailable: failed' })
  t.equal(failures, 1, 'a counted failure is reported once')
})

t.test('it announces once when it opens and once when it closes: a failed trial is no news', async (t) => {
  const lines: Array<[string, string]> = []
  const log: Logger = { debug () {}, info: (_o, msg) => { lines.push(['info', msg ?? '']) }, warn: (_o, msg) => { lines.push(['warn', msg ?? '']) }, error () {} }
  // opossum's reset timer is unref'd: this keeps the process alive while the test waits for it.
  const alive = setTimeout(() => undefined, 30_000)
  t.teardown(() => clearTimeout(alive))
  const moves = transitions()
  const g = guard(t, { policy: firstFailureOpens(1_000, 10), onTransition: moves.onTransition, announce: { log, fields: { store: 'test' }, down: 'down', up: 'up' } })
  await t.rejects(g.run(fail))
  await moves.next('half-open')
  await t.rejects(g.run(fail), 'the trial fails')
  t.equal(g.state, 'open')
  await moves.next('half-open')
  t.equal(await g.run(ok), 'answer', 'the trial succeeds')
  t.equal(g.state, 'closed')
  t.equal(g.downSince, undefined)
  t.same(lines, [['warn', 'down'], ['info', 'up']])
})

t.test('a pinned guard is open until released, and its failures are refusals', async (t) => {
  const moves = transitions()
  const g = guard(t, { onTransition: moves.onTransition })
  g.pinOpen()
  t.equal(g.state, 'open')
  const err = await g.run(ok).then(() => undefined, (e: unknown) => e)
  t.equal(failureOf(err).kind, 'open')
  const closed = moves.next('closed')
  g.release()
  t.equal((await closed).from, 'open')
  t.equal(await g.run(ok), 'answer')
})

t.test('a guard never runs without a timeout', async (t) => {
  for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new Guard({ name: 'x', policy: firstFailureOpens(timeoutMs, 1_000), action: async () => 1, whenUnavailable: { mode: 'fail-closed', error: () => new Error('x') } }), TypeError, `refuses ${timeoutMs}`)
  }
})
