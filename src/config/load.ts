import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { TransformDecode, Value } from '@sinclair/typebox/value'
import { LineCounter, YAMLParseError, parse as parseYaml } from 'yaml'
import { UnderstudyError, type ErrorCode } from '../errors.js'
import { parseDuration } from './duration.js'
import { substituteEnv, type Substitution } from './env.js'
import { ConfigSchema, type Config } from './schema.js'
import { resolveConfig, type Problems } from './resolve.js'

/**
 * One problem in a config file: a JSON pointer into the file, the rule it
 * breaks (never a config value), and the offending value when it may be shown
 * (see `showable`).
 */
export interface ConfigProblem { path: string, message: string, value?: string | number | boolean | null }

/** Thrown when a config cannot be read (US_ERR_CONFIG_READ) or is invalid (US_ERR_CONFIG_INVALID); carries every problem at once. */
export class ConfigError extends UnderstudyError {
  readonly problems: ConfigProblem[]
  constructor (source: string, problems: ConfigProblem[], code: Extract<ErrorCode, 'US_ERR_CONFIG_INVALID' | 'US_ERR_CONFIG_READ'> = 'US_ERR_CONFIG_INVALID') {
    super(code, `${source}: ${problems.length} problem(s) in the config`)
    this.problems = problems
  }

  /** The report printed by `check-config` and at a refused start: one line per problem. */
  report (): string {
    return [this.message, ...this.problems.map((p) => `  ${p.path || '/'}: ${p.message}${p.value === undefined ? '' : ` (got ${JSON.stringify(p.value)})`}`)].join('\n')
  }
}

/** Reads, substitutes, validates and resolves a YAML or JSON config file. */
export async function loadConfigFile (file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }], 'US_ERR_CONFIG_READ')
  }
  let parsed: unknown
  const lines = new LineCounter()
  try {
    parsed = parseYaml(text, { lineCounter: lines })
  } catch (err) {
    // The position only: a pretty error quotes the line, which may hold a secret.
    const at = err instanceof YAMLParseError ? lines.linePos(err.pos[0]) : undefined
    throw new ConfigError(file, [{ path: '', message: `cannot parse YAML/JSON${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${(err as Error).message}` }], 'US_ERR_CONFIG_READ')
  }
  return validateConfig(parsed, { source: file, baseDir: dirname(resolve(file)), env })
}

/** Validates an already-parsed config object: defaults and durations from the schema, relative paths resolved against `baseDir`. */
export function validateConfig (input: unknown, options: { source?: string, baseDir?: string, env?: NodeJS.ProcessEnv } = {}): Config {
  const source = options.source ?? 'config'
  const problems: ConfigProblem[] = []
  const found: Substitution = { missing: [], fromEnv: new Set() }
  const substituted = substituteEnv(input, options.env ?? process.env, found)
  for (const { path, name } of found.missing) problems.push({ path, message: `environment variable ${name} is not set` })
  if (substituted === null || typeof substituted !== 'object' || Array.isArray(substituted)) {
    throw new ConfigError(source, [...problems, { path: '', message: 'the config must be an object' }])
  }
  const withDefaults = Value.Default(ConfigSchema, structuredClone(substituted))
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    // Union members report one error each; keep the clearest one per path.
    if (problems.some((p) => p.path === error.path)) continue
    problems.push(showable({ path: error.path, message: error.message, value: error.value }, found.fromEnv))
  }
  // The semantic checks run even when the schema failed, so that one report
  // lists every problem; those at a path the schema already flagged are noise.
  const semantic: Problems = []
  let config: Config | undefined
  try {
    // Checked above, where its errors became problems: Value.Decode would refuse what failed the schema
    // outright, so the rest of it is decoded anyway for the semantic checks.
    const decoded = TransformDecode(ConfigSchema, [], withDefaults) as Config
    config = resolveConfig(decoded, options.baseDir ?? process.cwd(), semantic)
  } catch (err) {
    // Only input that failed the schema can trip the decoder or the resolver, and its problems are listed.
    if (problems.length === 0) throw err
  }
  problems.push(...semantic.filter((s) => !problems.some((p) => overlaps(p.path, s.path))).map((s) => showable(s, found.fromEnv)))
  if (problems.length > 0 || config === undefined) throw new ConfigError(source, problems)
  return config
}

function overlaps (a: string, b: string): boolean {
  return a === b || a === '' || b === '' || a.startsWith(`${b}/`) || b.startsWith(`${a}/`)
}

/** Paths whose values are secrets whatever they hold (clientSecret, password, sentinelPassword, admin token, webhook secrets). */
const SECRET_SEGMENT = /secret|password|passwd|credential|^token$/i
/** A webhook receiver's URL often is a credential itself (a token in its path or query). */
const SECRET_PATH = /^\/webhooks\/\d+\/url$/

/**
 * The problem with its value kept only when a report may show it: a scalar
 * written in the file itself, at no secret-bearing path, with a URL's
 * user and password masked. A value that came from `${ENV}` is never shown:
 * secrets live there.
 */
function showable (problem: { path: string, message: string, value?: unknown }, fromEnv: ReadonlySet<string>): ConfigProblem {
  const { path, message, value } = problem
  const hidden = fromEnv.has(path) || SECRET_PATH.test(path) || path.split('/').some((segment) => SECRET_SEGMENT.test(segment))
  if (hidden || !(value === null || ['string', 'number', 'boolean'].includes(typeof value))) return { path, message }
  if (typeof value !== 'string') return { path, message, value: value as number | boolean | null }
  const masked = value.replace(/\/\/[^/?#\s]*@/, '//***@')
  return { path, message, value: masked.length > 60 ? `${masked.slice(0, 57)}...` : masked }
}

export { parseDuration }
