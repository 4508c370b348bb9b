import { spawnSync } from 'node:child_process'

/** True under CI (`.ci/run` exports CI=true): a missing tool is then a failure, never a skip. */
export const inCi = Boolean(process.env.CI) && process.env.CI !== 'false'

/**
 * The one skip-or-fail rule for tests that need a tool outside Node: false
 * when `name` is usable, otherwise the reason to skip. Under CI a missing
 * tool throws, so the test file fails naming it. `problem`, when given,
 * replaces the PATH probe (a tool that needs a version or a file check).
 */
export function requireTool (name: string, ...problem: [string | undefined] | []): false | string {
  const reason = problem.length > 0 ? problem[0] : (spawnSync(name, ['--version']).status === 0 ? undefined : `${name} is not on PATH`)
  if (reason === undefined) return false
  if (inCi) throw new Error(`${reason}: CI=true needs ${name} (.ci/run installs it)`)
  return reason
}
