import { cohortViolations, type CohortFigures } from './measure.js'
import { pct, type GamedayReport, type ScenarioFigures, type WindowFigures } from './report.js'

const TIMELINE_ROWS = 400

/** The report as Markdown: what a game-day write-up holds, in the order people read it. */
export function renderMarkdown (r: GamedayReport): string {
  const verdict = r.expectationsMet ? 'PASSED: every expectation met' : `FAILED: ${r.violations.length} expectation(s) missed`
  return [
    '# Game day report: understudy',
    '',
    `${r.startedAt} to ${r.finishedAt} (${seconds(r.wallTimeMs)} wall time) · scenarios: ${r.scenarios.map((s) => s.name).join(', ')} · **${verdict}**`,
    '',
    '## Hypothesis',
    '',
    r.hypothesis,
    '',
    'Expectations checked:',
    '',
    ...r.expectations.map((e) => `- ${e}`),
    '',
    '## Topology and load',
    '',
    ...topology(r),
    '',
    '## Steady state (baseline, before any fault)',
    '',
    ...windowTable(r.baseline),
    ...(r.baseline.violations.length > 0 ? ['', ...r.baseline.violations.map((v) => `- **${v}**`)] : []),
    '',
    '## Results',
    '',
    '| scenario | detect | failover | recover | returning users | new users | enrolled users on new devices | 5xx | sessions lost | revoked accepted | latency p50 / p99 / max | upstream calls per login | manual interventions | verdict |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.scenarios.map((s) => `| ${s.name} | ${ms(s.timeToDetectMs)} | ${ms(s.timeToFailoverMs)} | ${ms(s.timeToRecoverMs)} | ${pct(s.returningUserSuccessRate)} | ${pct(s.newUserSuccessRate)} | ${s.cohort.map(cohortCell).join('; ') || '—'} | ${s.http5xx} | ${s.sessionsLost} | ${s.revokedAccepted} | ${s.latencyMs.p50} / ${s.latencyMs.p99} / ${s.latencyMs.max} ms | ${s.upstreamCallsPerLogin} | ${s.manualInterventions} | ${s.expectationsMet ? 'met' : '**missed**'} |`),
    '',
    'Times are the worst over the scenario\'s faults: detect = fault injected → first breaker opening, store or directory loss or failover seen (admin API, incident timeline, load balancer); failover = fault → first login that succeeded through the surviving path; recover = fault cleared → every breaker closed, every store and the directory reachable and a new login succeeded. Enrolled users on new devices: the users who added a passkey before the faults, each logging in with it from an empty cookie jar while the whole upstream is down (acr backup, the sub they had before); while the directory is down they are to be told temporarily_unavailable instead.',
    '',
    ...r.scenarios.flatMap(scenarioSection),
    '## Violations',
    '',
    ...(r.violations.length === 0 ? ['None.'] : r.violations.map((v) => `- ${v}`)),
    '',
    '## Timeline',
    '',
    'Injected faults (gameday), what the load balancer and the admin API showed (load-balancer, monitor), and the gateways\' own incident timelines (gateway-a, gateway-b), merged by time. Here a failed half-open trial is one line, and breaker changes appear once, as the gateway recorded them; report.json has every entry.',
    '',
    '| t+ | source | event |',
    '|---|---|---|',
    ...readable(r.timeline).slice(0, TIMELINE_ROWS).map((e) => `| ${(e.offsetMs / 1000).toFixed(3)} s | ${e.source} | ${escape(e.message)} |`),
    ...(readable(r.timeline).length > TIMELINE_ROWS ? [`| | | … more in report.json |`] : []),
    '',
  ].join('\n')
}

function topology (r: GamedayReport): string[] {
  const t = r.topology as { issuer: string, loadBalancer: string, gateways: Array<{ name: string, region: string }>, upstream: { regions: Array<{ name: string }> }, directory: { database: string, schema: string }, faultProxies: Array<{ name: string }> }
  return [
    `- Issuer ${t.issuer}, served by a load balancer (${t.loadBalancer.split(': ')[1]}).`,
    `- Gateways: ${t.gateways.map((g) => `${g.name} (${g.region}, its own Redis, the other's Redis as peer)`).join('; ')}; each a child process, chaos enabled.`,
    `- Upstream: one OpenID Provider in ${t.upstream.regions.length} regions (${t.upstream.regions.map((u) => u.name).join(', ')}).`,
    `- Directory (backup login on; passkeys, the offer after login): ${t.directory.database}, schema ${t.directory.schema} made for this run, shared by both gateways, each through its own fault proxy; directory timeout ${r.policy.directory.timeout}.`,
    `- Fault proxies on every link: ${t.faultProxies.map((p) => p.name).join(', ')}.`,
    `- Breakers: timeout ${r.policy.breaker.timeout}, reset ${r.policy.breaker.resetTimeout}, health checks every ${r.policy.healthCheck.interval}; detection bound ${r.policy.detectionBoundMs} ms. Redis command timeout ${r.policy.redis.commandTimeout}, peer timeout ${r.policy.redis.peerTimeout}.`,
    `- Load: ${r.load.rate} operations/s, at most ${r.load.concurrency} in flight, ${Math.round(r.load.newUserShare * 100)} % new users (who answer the passkey offer "Not now"); ${r.load.seedUsers} returning users logged in beforehand, and ${r.load.cohort} more who added a passkey.`,
    `- Relying parties: ${r.load.relyingParties.map((rp) => `${String(rp.clientId)} (${String(rp.kind)}, maxStaleness ${String(rp.maxStaleness)}; returning users: ${String(rp.returningUsers)})`).join('; ')}.`,
  ]
}

function windowTable (f: WindowFigures): string[] {
  return [
    '| duration | logins and refreshes | requests | returning users | new users | 5xx | latency p50 / p99 / max | upstream calls per login |',
    '|---|---|---|---|---|---|---|---|',
    `| ${seconds(f.durationMs)} | ${f.operations} | ${f.requests} | ${pct(f.returningUserSuccessRate)} | ${pct(f.newUserSuccessRate)} | ${f.http5xx} | ${f.latencyMs.p50} / ${f.latencyMs.p99} / ${f.latencyMs.max} ms | ${f.upstreamCallsPerLogin} |`,
  ]
}

function scenarioSection (s: ScenarioFigures): string[] {
  return [
    `## ${s.name}: ${s.title}`,
    '',
    s.description,
    '',
    '| fault | detected | by | failover | by | recovered |',
    '|---|---|---|---|---|---|',
    ...s.steps.map((step) => `| ${step.fault} | ${ms(step.timeToDetectMs)} | ${escape(step.detectedBy ?? '')} | ${ms(step.timeToFailoverMs)} | ${escape(step.failoverBy ?? '')} | ${step.clearedAt === null ? 'kept for the next fault' : ms(step.timeToRecoverMs)} |`),
    '',
    `${s.operations} logins and refreshes (${s.requests} requests) in ${seconds(s.durationMs)}; ${s.cachedLogins} served from the cached login; ${s.revokedProbes} attempts with revoked credentials, ${s.revokedAccepted} accepted.`,
    `Returning users: ${outcomes(s.outcomes.returning)}. New users: ${outcomes(s.outcomes.newUsers)}${s.newUserFailuresAllowed > 0 ? ` (${s.newUserFailuresAllowed} ${s.newUserFailuresAllowed === 1 ? 'failure' : 'failures'} within what the contract allows)` : ''}.`,
    ...s.cohort.map((c) => `Enrolled users on new devices while "${c.fault}" held: ${cohortCell(c)}${cohortViolations(c).length > 0 ? ` (${outcomes(c.outcomes)})` : ''}.`),
    ...(s.directoryRefusals > 0 ? [`${s.directoryRefusals} passkey logins were answered 503 temporarily_unavailable while the directory was down (the contract's answer; not counted as 5xx).`] : []),
    ...(s.skippedTicks > 0 ? [`The load driver skipped ${s.skippedTicks} ticks at its concurrency limit.`] : []),
    ...(s.caughtInCrash > 0 ? ['', `Caught in a crash (a request was inside a gateway process when it was SIGKILLed; listed, not in the rates): ${s.crashCasualties.map((f) => `${f.operation}: ${f.outcome}${f.detail ? ` (${escape(f.detail)})` : ''}`).join('; ')}.`] : []),
    ...(s.unexpectedFailures.length > 0 ? ['', 'Failures that count against the expectations:', '', ...s.unexpectedFailures.map((f) => `- ${f.at}: ${f.operation}: ${f.outcome}${f.detail ? ` (${escape(f.detail)})` : ''}`)] : []),
    '',
    s.expectationsMet ? 'Every expectation met.' : `Missed: ${s.violations.join('; ')}.`,
    '',
  ]
}

type Row = GamedayReport['timeline'][number]

/** The timeline for people: breaker changes once (the gateway's own), a failed half-open trial as one line. */
function readable (timeline: Row[]): Row[] {
  const rows = timeline.filter((e) => !(e.source === 'monitor' && e.message.includes(': breaker ')))
  const out: Row[] = []
  for (let i = 0; i < rows.length; i++) {
    const trial = /^breaker (\S+): open → half-open/.exec(rows[i]!.message)
    const next = trial ? rows.slice(i + 1).find((e) => e.source === rows[i]!.source && e.message.startsWith(`breaker ${trial[1]}: `)) : undefined
    if (trial && next?.message.startsWith(`breaker ${trial[1]}: half-open → open`)) {
      out.push({ ...rows[i]!, message: `breaker ${trial[1]}: half-open trial failed, open again` })
      rows.splice(rows.indexOf(next), 1)
      continue
    }
    out.push(rows[i]!)
  }
  return out
}

/** "4/4 logged in with a passkey", or while the directory is down "4/4 told temporarily_unavailable (directory down)". */
function cohortCell (c: CohortFigures): string {
  const wrong = c.wrongSub > 0 ? `, ${c.wrongSub} with another sub` : ''
  return c.expected === 'logged-in'
    ? `${c.loggedIn}/${c.enrolled} logged in with a passkey${wrong}`
    : `${c.unavailable}/${c.enrolled} told temporarily_unavailable (directory down)${wrong}`
}

function outcomes (counts: Record<string, number>): string {
  const entries = Object.entries(counts)
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${v} ${k}`).join(', ')
}

function ms (value: number | null): string {
  return value === null ? 'n/a' : `${value} ms`
}

function seconds (value: number): string {
  return `${(value / 1000).toFixed(1)} s`
}

function escape (text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}
