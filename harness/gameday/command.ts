import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parseDuration } from '../../src/config/duration.js'
import { killAll } from '../children.js'
import type { ProgressStream } from './progress.js'
import { renderMarkdown } from './report-md.js'
import { runGameday } from './run.js'
import { SCENARIO_NAMES, type ScenarioName } from './scenarios.js'
import { DEFAULT_DATABASE_URL } from './setup.js'

const USAGE = 'usage: understudy gameday [--scenario monkey|gorilla|kong|directory|all] [--duration 60s] [--report DIR] [--database URL] [--json]\n'

/** `understudy gameday`: runs the scenarios, writes report.md and report.json; 0 when every expectation is met, 1 otherwise. */
export async function gamedayCommand (args: string[], stdout: NodeJS.WritableStream, stderr: ProgressStream): Promise<number> {
  let scenarios: ScenarioName[]
  let durationMs: number
  let reportDir: string
  let json: boolean
  let databaseUrl: string
  try {
    const { values } = parseArgs({ args, strict: true, options: { scenario: { type: 'string', default: 'all' }, duration: { type: 'string', default: '60s' }, report: { type: 'string', default: 'gameday-report' }, database: { type: 'string', default: DEFAULT_DATABASE_URL }, json: { type: 'boolean', default: false } } })
    const scenario = values.scenario!
    if (scenario !== 'all' && !(SCENARIO_NAMES as readonly string[]).includes(scenario)) throw new Error(`--scenario must be ${SCENARIO_NAMES.join(', ')} or all, not ${JSON.stringify(scenario)}`)
    scenarios = scenario === 'all' ? [...SCENARIO_NAMES] : [scenario as ScenarioName]
    durationMs = parseDuration(values.duration!) * 1000
    if (!(durationMs >= 5_000 && durationMs <= 600_000)) throw new Error('--duration must be between 5s and 10m')
    reportDir = resolve(values.report!)
    databaseUrl = values.database!
    if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Error('--database must be a postgres:// URL')
    json = values.json!
  } catch (err) {
    stderr.write(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const controller = new AbortController()
  const onSignal = () => {
    // A second signal does not wait for the clean-up.
    if (controller.signal.aborted) {
      killAll()
      process.exit(130)
    }
    stderr.write('\ninterrupted: stopping every process the game day started\n')
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    await mkdir(reportDir, { recursive: true })
    const report = await runGameday({ scenarios, durationMs, reportDir, databaseUrl, progress: stderr, signal: controller.signal })
    await writeFile(join(reportDir, 'report.json'), JSON.stringify(report, null, 2) + '\n')
    await writeFile(join(reportDir, 'report.md'), renderMarkdown(report))
    if (json) stdout.write(JSON.stringify(report, null, 2) + '\n')
    stderr.write(`${summaryLines(report).join('\n')}\nreport: ${join(reportDir, 'report.md')} and report.json\n`)
    return report.expectationsMet ? 0 : 1
  } catch (err) {
    if (controller.signal.aborted) return 130
    stderr.write(`game day failed: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function summaryLines (report: Awaited<ReturnType<typeof runGameday>>): string[] {
  return [
    '',
    `game day ${report.expectationsMet ? 'PASSED' : 'FAILED'} in ${(report.wallTimeMs / 1000).toFixed(1)} s`,
    ...report.scenarios.map((s) => `  ${s.name.padEnd(8)} detect ${s.timeToDetectMs ?? '-'} ms, failover ${s.timeToFailoverMs ?? '-'} ms, recover ${s.timeToRecoverMs ?? '-'} ms, returning ${(s.returningUserSuccessRate * 100).toFixed(2)} %, new ${(s.newUserSuccessRate * 100).toFixed(2)} %,${s.cohort.map((c) => ` passkey cohort ${c.expected === 'logged-in' ? `${c.loggedIn}/${c.enrolled} logged in` : `${c.unavailable}/${c.enrolled} temporarily_unavailable`},`).join('')} 5xx ${s.http5xx}, lost ${s.sessionsLost}, revoked accepted ${s.revokedAccepted}${s.caughtInCrash > 0 ? `, caught in a crash ${s.caughtInCrash}` : ''}`),
    ...report.violations.map((v) => `  violation: ${v}`),
  ]
}
