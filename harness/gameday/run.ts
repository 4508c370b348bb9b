import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { until } from '../poll.js'
import { RecordingBrowser } from './recording-browser.js'
import type { FlowContext } from './flow-steps.js'
import { LoadDriver } from './load-driver.js'
import type { Bounds, StepRun } from './measure.js'
import { Monitor, type TimelineEntry } from './monitor.js'
import { Progress, type ProgressStream } from './progress.js'
import { Recorder } from './records.js'
import { EXPECTATIONS, HYPOTHESIS, baselineViolations, scenarioFigures, windowFigures, type GamedayReport, type ScenarioRun } from './report.js'
import { scenario, type ScenarioName } from './scenarios.js'
import { DEFAULT_DATABASE_URL, DEFAULT_LOAD, GAMEDAY_POLICY, detectionBoundMs, toMs, type GamedayPolicy, type LoadShape } from './setup.js'
import { describeRelyingParties, describeTopology, timelineOf } from './summary.js'
import { REGIONS, startTopology, type Topology } from './topology.js'

export interface GamedayOptions {
  scenarios: ScenarioName[]
  /** Length of each scenario (its faults share it). */
  durationMs: number
  /** Where gateway logs go (`<dir>/logs`). */
  reportDir: string
  load?: Partial<LoadShape>
  policy?: GamedayPolicy
  /** How long the steady state is measured before the first fault (default: a quarter of `durationMs`, 3 to 15 s). */
  baselineMs?: number
  /** Live progress; none when omitted. */
  progress?: ProgressStream
  /** Stops the game day early (SIGINT): everything started is stopped. */
  signal?: AbortSignal
  /** The PostgreSQL whose fresh schema holds the gateways' shared directory (default DEFAULT_DATABASE_URL). */
  databaseUrl?: string
}

const MIN_HOLD_MS = 2_000
const HOLD_SHARE = 0.5
const MIN_SETTLE_MS = 500
const RECOVERY_TIMEOUT_MS = 30_000
const CLIENT_TIMEOUT_MS = 10_000

/**
 * Runs a game day: starts the topology, logs the seed users in, measures the
 * steady state, runs each scenario's faults under steady load, and returns
 * the report. Every process it started is stopped before it returns or throws.
 */
export async function runGameday (options: GamedayOptions): Promise<GamedayReport> {
  const startedAt = Date.now()
  const policy = options.policy ?? GAMEDAY_POLICY
  const load = { ...DEFAULT_LOAD, ...options.load }
  const bounds: Bounds = { detectionMs: detectionBoundMs(policy), recoveryMs: toMs(policy.breaker.resetTimeout) + detectionBoundMs(policy) }
  const rec = new Recorder()
  const progress = options.progress ? new Progress(options.progress, rec) : undefined
  const entries: TimelineEntry[] = []
  progress?.phase('starting the topology: upstream (2 regions), 2 Redis, a directory schema in PostgreSQL, 10 fault proxies, 2 gateway processes, load balancer')
  const topology = await startTopology(policy, options.databaseUrl ?? DEFAULT_DATABASE_URL, join(options.reportDir, 'logs'), (t) => {
    entries.push({ at: t.at, source: 'load-balancer', kind: 'observed', subject: `gateway-${t.backend}`, bad: !t.up, message: t.up ? `gateway-${t.backend} answers again: traffic back to it` : `gateway-${t.backend} failed (${t.reason}): requests go to the other region` })
  }).catch((err: unknown) => {
    progress?.stop()
    throw err
  })
  const monitor = new Monitor(topology)
  const dispatcher = new Agent({ keepAliveTimeout: 2_000, connect: { timeout: 3_000 } })
  const ctx: FlowContext = { issuer: topology.issuer, upstreamRegionOf: (url) => upstreamRegionOf(topology, url) }
  const driver = new LoadDriver({
    ctx,
    shape: load,
    recorder: rec,
    newBrowser: () => new RecordingBrowser({ dispatcher, timeoutMs: CLIENT_TIMEOUT_MS, record: (s) => rec.sample(s), targetOf: (url) => targetOf(topology, url) }),
  })
  const note = (message: string, kind = 'fault') => entries.push({ at: Date.now(), source: 'gameday', kind, message })
  try {
    monitor.start()
    await until(() => monitor.healthy(), 20_000, 'the topology is healthy', { intervalMs: 100, ...(options.signal ? { signal: options.signal } : {}) })
    progress?.phase(`logging ${load.seedUsers} returning users in`)
    await driver.seed(load.seedUsers)
    progress?.phase(`${load.cohort} users log in and add a passkey`)
    await driver.enrolCohort(load.cohort)
    driver.start()
    const baselineMs = options.baselineMs ?? Math.min(15_000, Math.max(3_000, options.durationMs / 4))
    progress?.phase(`steady state: measuring the baseline for ${Math.round(baselineMs / 1000)} s`, { resetCounts: true })
    const baselineFrom = Date.now()
    await sleep(baselineMs, undefined, { signal: options.signal })
    const baselineTo = Date.now()
    const runs: ScenarioRun[] = []
    for (const name of options.scenarios) {
      runs.push(await runScenario(name, { topology, monitor, driver, rec, progress, note, options, bounds }))
    }
    progress?.phase('stopping the load')
    await driver.stop()
    await monitor.stop()
    const timeline = [...entries, ...monitor.entries].sort((a, b) => a.at - b.at)
    const counted = monitor.counted.bind(monitor)
    const baseline = windowFigures(rec, baselineFrom, baselineTo, counted)
    const scenarios = runs.map((run) => scenarioFigures(run, rec, timeline, counted, bounds))
    const violations = [...baselineViolations(baseline), ...scenarios.flatMap((s) => s.violations.map((v) => `${s.name}: ${v}`))]
    const finishedAt = Date.now()
    return {
      title: 'understudy game day',
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      wallTimeMs: finishedAt - startedAt,
      hypothesis: HYPOTHESIS,
      expectations: EXPECTATIONS,
      topology: describeTopology(topology),
      load: { ...load, relyingParties: describeRelyingParties() },
      policy: { ...policy, detectionBoundMs: bounds.detectionMs, recoveryBoundMs: bounds.recoveryMs },
      baseline: { ...baseline, violations: baselineViolations(baseline) },
      scenarios,
      timeline: timelineOf(timeline, startedAt),
      expectationsMet: violations.length === 0,
      violations,
    }
  } finally {
    progress?.stop()
    await driver.stop()
    await monitor.stop()
    await topology.close()
    await dispatcher.close()
  }
}

interface ScenarioDeps {
  topology: Topology
  monitor: Monitor
  driver: LoadDriver
  rec: Recorder
  progress: Progress | undefined
  note: (message: string, kind?: string) => void
  options: GamedayOptions
  bounds: Bounds
}

/** Injects a scenario's faults one step at a time, clears them, and waits for recovery after each clearing. */
async function runScenario (name: ScenarioName, deps: ScenarioDeps): Promise<ScenarioRun> {
  const { topology, driver, progress, note, options } = deps
  const s = scenario(name)
  const startedAt = Date.now()
  progress?.phase(`${name}: ${s.title}`, { resetCounts: true })
  note(`scenario ${name} starts: ${s.title}`, 'scenario')
  for (const done of await driver.revokeSome()) note(`before the faults: ${done}`, 'revocation')
  const budget = options.durationMs / s.steps.length
  const steps: StepRun[] = []
  let kept: StepRun[] = []
  let manualInterventions = 0
  for (const [i, step] of s.steps.entries()) {
    const stepStart = Date.now()
    progress?.phase(`${name} ${i + 1}/${s.steps.length}: ${step.fault.description}`)
    note(`injected: ${step.fault.description}`)
    const run: StepRun = {
      fault: step.fault,
      injectedAt: Date.now(),
      until: Infinity,
      upstreamAlreadyDown: kept.some((k) => k.fault.upstreamDown),
      directoryDown: step.fault.directoryDown === true || kept.some((k) => k.fault.directoryDown),
      cohort: step.cohort === true,
    }
    for (const k of kept) k.until = run.injectedAt
    await step.fault.inject(topology).catch((err: Error) => note(`could not inject "${step.fault.description}": ${err.message}`, 'error'))
    steps.push(run)
    kept.push(run)
    await Promise.all([
      sleep(Math.max(MIN_HOLD_MS, budget * HOLD_SHARE), undefined, { signal: options.signal }),
      ...(step.cohort ? [cohortLogins(deps)] : []),
    ])
    if (step.keep) continue
    const clearedAt = Date.now()
    progress?.phase(`${name} ${i + 1}/${s.steps.length}: clearing, waiting for recovery`)
    // Everything kept is cleared at once (a region being restarted must not hold back an upstream that is back);
    // a clearing that fails, such as a process that will not start, is left to the recovery bound to report.
    for (const k of kept) note(`cleared: ${k.fault.description}`)
    await Promise.all(kept.map((k) => k.fault.clear(topology).catch((err: Error) => note(`could not clear "${k.fault.description}": ${err.message}`, 'error'))))
    const recovery = await waitForRecovery(clearedAt, deps)
    manualInterventions += recovery.interventions
    for (const k of kept) {
      k.clearedAt = clearedAt
      k.until = Math.min(k.until, clearedAt)
      if (recovery.at !== undefined) k.recoveredAt = recovery.at
    }
    kept = []
    note(recovery.at === undefined ? `not recovered within ${RECOVERY_TIMEOUT_MS / 1000} s` : `recovered: every breaker closed, every store and the directory reachable, new logins succeed (${recovery.at - clearedAt} ms after clearing)`, 'recovery')
    await sleep(Math.max(MIN_SETTLE_MS, budget - (Date.now() - stepStart)), undefined, { signal: options.signal })
  }
  return { name, title: s.title, description: s.description, startedAt, endedAt: Date.now(), steps, manualInterventions, enrolled: driver.cohort.length }
}

/**
 * The enrolled users log in with their passkeys on new devices, once both
 * gateways know the whole upstream is down (before that they would still
 * send a browser to it); a gateway that never finds out is the cohort's
 * failure to report, not a reason to wait longer.
 */
async function cohortLogins (deps: ScenarioDeps): Promise<void> {
  const { monitor, driver, note, bounds, options } = deps
  await until(() => monitor.upstreamDown(), bounds.detectionMs * 3, 'the gateways see the whole upstream down', { intervalMs: 50, ...(options.signal ? { signal: options.signal } : {}) })
    .catch((err: Error) => {
      options.signal?.throwIfAborted()
      note(`the enrolled users try anyway: ${err.message}`, 'error')
    })
  note(`the ${driver.cohort.length} users who added a passkey log in with it on new devices`, 'cohort')
  await driver.logInCohort()
  note('the enrolled users\' passkey logins are done', 'cohort')
}

/**
 * Recovered: both gateways report every breaker closed and every store
 * reachable, and a new user who started after the clearing has logged in.
 * Past the bound the game day acts as an operator would — closing breakers
 * by hand — and counts each such action as a manual intervention.
 */
async function waitForRecovery (clearedAt: number, deps: ScenarioDeps): Promise<{ at?: number, interventions: number }> {
  const { monitor, rec, topology, note, options } = deps
  const recovered = (): number | undefined => {
    if (!monitor.healthy()) return undefined
    const login = rec.ops.find((o) => o.kind === 'new' && o.outcome === 'ok' && o.start >= clearedAt)
    return login === undefined ? undefined : Math.max(Date.now(), login.end)
  }
  let interventions = 0
  for (const deadline of [clearedAt + RECOVERY_TIMEOUT_MS, clearedAt + RECOVERY_TIMEOUT_MS * 1.5]) {
    while (Date.now() < deadline) {
      const at = recovered()
      if (at !== undefined) return { at, interventions }
      await sleep(100, undefined, { signal: options.signal })
    }
    const closed = await closeBreakersByHand(topology)
    interventions += closed
    note(closed > 0 ? `manual intervention: ${closed} breakers closed by hand through the admin API` : 'not recovered, and no breaker an operator could close', 'intervention')
  }
  return { interventions }
}

async function closeBreakersByHand (topology: Topology): Promise<number> {
  let closed = 0
  for (const name of REGIONS) {
    const headers = { authorization: `Bearer ${topology.adminToken}` }
    try {
      const answer = await request(`${topology.regions[name].adminUrl}/admin/breakers`, { headers })
      const { breakers } = await answer.body.json() as { breakers: Array<{ provider: string, region: string, state: string }> }
      for (const b of breakers.filter((b) => b.state !== 'closed')) {
        await (await request(`${topology.regions[name].adminUrl}/admin/breakers/${b.provider}/${b.region}/close`, { method: 'POST', headers })).body.dump()
        closed++
      }
    } catch {}
  }
  return closed
}

function targetOf (topology: Topology, url: URL): string {
  const name = topology.describe(url.host)
  if (name === 'gateway') return 'gateway'
  return name?.includes('→upstream:') ? name.split('→')[1]! : url.host
}

function upstreamRegionOf (topology: Topology, url: URL): string | undefined {
  const name = topology.describe(url.host)
  return name?.includes('→upstream:') ? name.split('upstream:')[1] : undefined
}
