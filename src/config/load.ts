import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { parse as parseYaml } from 'yaml'
import { UnderstudyError } from '../errors.js'
import { parseDuration } from './duration.js'
import { substituteEnv } from './env.js'
import { ConfigSchema, type RawConfig } from './schema.js'
import { resolveConfig, type Config } from './resolve.js'

/** One problem in a config file: a JSON pointer into the file and what is wrong there. */
export interface ConfigProblem { path: string, message: string }

/** Thrown when a config is invalid; carries every problem at once. */
export class ConfigError extends UnderstudyError {
  readonly problems: ConfigProblem[]
  constructor (source: string, problems: ConfigProblem[]) {
    super('US_ERR_CONFIG_INVALID', `${source}: ${problems.length} problem(s) in the config`)
    this.problems = problems
  }

  /** The report printed by `check-config` and at a refused start: one line per problem. */
  report (): string {
    return [this.message, ...this.problems.map((p) => `  ${p.path || '/'}: ${p.message}`)].join('\n')
  }
}

/** Reads, substitutes, validates and resolves a YAML or JSON config file. */
export async function loadConfigFile (file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }])
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text, { prettyErrors: true })
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot parse YAML/JSON: ${(err as Error).message}` }])
  }
  return validateConfig(parsed, { source: file, baseDir: dirname(resolve(file)), env })
}

/** Validates an already-parsed config object; relative paths are resolved against `baseDir`. */
export function validateConfig (input: unknown, options: { source?: string, baseDir?: string, env?: NodeJS.ProcessEnv } = {}): Config {
  const source = options.source ?? 'config'
  const problems: ConfigProblem[] = []
  const missing: string[] = []
  const substituted = substituteEnv(input, options.env ?? process.env, missing)
  for (const line of missing) {
    const at = line.indexOf(': ')
    problems.push({ path: line.slice(0, at), message: line.slice(at + 2) })
  }
  if (substituted === null || typeof substituted !== 'object' || Array.isArray(substituted)) {
    throw new ConfigError(source, [...problems, { path: '', message: 'the config must be an object' }])
  }
  const withDefaults = Value.Default(ConfigSchema, structuredClone(substituted))
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    // Union members report one error each; keep the clearest one per path.
    if (problems.some((p) => p.path === error.path)) continue
    problems.push({ path: error.path, message: describe(error.message, error.value) })
  }
  // The semantic checks run even when the schema failed, so that one report
  // lists every problem; those at a path the schema already flagged are noise.
  const semantic: ConfigProblem[] = []
  let config: Config | undefined
  try {
    config = resolveConfig(withDefaults as RawConfig, options.baseDir ?? process.cwd(), semantic)
  } catch (err) {
    // Only input that failed the schema can trip the resolver, and its problems are listed.
    if (problems.length === 0) throw err
  }
  problems.push(...semantic.filter((s) => !problems.some((p) => overlaps(p.path, s.path))))
  if (problems.length > 0 || config === undefined) throw new ConfigError(source, problems)
  return config
}

function overlaps (a: string, b: string): boolean {
  return a === b || a === '' || b === '' || a.startsWith(`${b}/`) || b.startsWith(`${a}/`)
}

function describe (message: string, value: unknown): string {
  const shown = typeof value === 'string' && value.length > 60 ? `${value.slice(0, 57)}...` : value
  return value === undefined ? message : `${message} (got ${JSON.stringify(shown)})`
}

export { parseDuration }
