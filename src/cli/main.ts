#!/usr/bin/env node
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'

// Each command's module is imported when that command is chosen, never up front: the gateway
// (Fastify, Redis, the directory...) is most of what a start loads, and `--help`, `check-config`
// or a refused config need none of it, so they answer in a fraction of the time.

const USAGE = `understudy: a resilient auth gateway for federated login

usage:
  understudy start [--config FILE]   run the gateway from FILE (or $UNDERSTUDY_CONFIG);
                                     with neither, run the demo stack
  understudy check-config FILE       validate FILE, print every problem, exit 2 if any
  understudy keys generate DIR       write fresh signing and sealing JWK Sets into DIR
  understudy config-schema [--markdown]  print the config file's JSON Schema (or the Markdown reference)
  understudy gameday [--scenario monkey|gorilla|kong|directory|all] [--duration 60s] [--report DIR] [--database URL] [--json]
                                     run a game day on a local topology, write report.md and report.json
                                     to DIR (./gameday-report); exit 1 if an expectation is missed
  understudy incidents --admin-url URL [--token T] [--format md|json]
                                     print a post-mortem draft from a gateway's incident timeline
`

/** Runs one CLI command and returns its exit code (a running server returns only on failure to start). */
export async function main (argv: string[]): Promise<number> {
  const [command = 'start', ...rest] = argv
  switch (command) {
    case 'start': return start(rest)
    case 'check-config': return (await import('./check-config.js')).checkConfigCommand(rest, process.stdout, process.stderr)
    case 'keys': return (await import('./keys.js')).keysCommand(rest, process.stdout, process.stderr)
    case 'config-schema': return (await import('./config-schema.js')).configSchemaCommand(process.stdout, rest)
    case 'gameday': return (await import('./gameday.js')).gamedayCommand(rest, process.stdout, process.stderr)
    case 'incidents': return (await import('./incidents.js')).incidentsCommand(rest, process.stdout, process.stderr)
    case 'help': case '--help': case '-h':
      process.stdout.write(USAGE)
      return 0
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`)
      return 2
  }
}

async function start (args: string[]): Promise<number> {
  let file: string | undefined
  try {
    file = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true }).values.config ?? process.env.UNDERSTUDY_CONFIG
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const { createLogger } = await import('./logger.js')
  let logger = createLogger()
  if (file === undefined || file === '') {
    const { loadHarness } = await import('./harness.js')
    const harness = await loadHarness<{ startDemo: (logger: Logger) => Promise<{ close (drainDelayMs: number): Promise<void> }> }>('demo/stack', 'the demo stack (`understudy start` with no config)', process.stderr)
    if (!harness) return 2
    const demo = await harness.startDemo(logger)
    const { closeOnSignals } = await import('./start.js')
    closeOnSignals(demo, logger, 0)
    return -1
  }
  const { ConfigError, loadConfigFile } = await import('../config/load.js')
  const { isUnderstudyError } = await import('../errors.js')
  try {
    const config = await loadConfigFile(file)
    logger = createLogger({ level: config.logging.level })
    // Only a valid config pays for loading the gateway.
    const { closeOnSignals, startGateway } = await import('./start.js')
    const running = await startGateway(config, { logger })
    closeOnSignals(running, logger, config.shutdown.drainDelay * 1000)
    return -1
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.report()}\n`)
      return 2
    }
    if (isUnderstudyError(err)) {
      logger.fatal({ code: err.code, err }, 'cannot start')
      process.stderr.write(`${err.message}\n`)
      return 2
    }
    throw err
  }
}

const code = await main(process.argv.slice(2))
if (code >= 0) process.exitCode = code
