// The command line and the constants every part of a bench run shares.
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/** Every row, in the table's order. */
export const SCENARIOS = [
  'hello', 'es256', 'es256-jose', 'livez', 'authorize',
  'peer-sso', 'peer-sso-opaque', 'peer-full', 'sso', 'sso-opaque', 'full', 'refresh',
  'peer-sso-opaque-redis', 'sso-redis', 'sso-opaque-redis',
  'sso-outage', 'cached', 'sso-inproc',
] as const
export type Scenario = typeof SCENARIOS[number]
/** Diagnostics (/authorize alone): measured only with --diag or --only. The gateway's own HTTP floor (GET /livez) is measured in every run: the report splits the SSO flow's CPU with it. */
const DIAGNOSTICS: readonly Scenario[] = ['authorize']
/** The in-process gateway (not how it ships): measured only with --in-process or --only. */
const EXTRAS: readonly Scenario[] = ['sso-inproc']
/** The rows served by the Redis-backed gateway and peer (and their redis-servers). */
export const REDIS_ROWS: readonly Scenario[] = ['peer-sso-opaque-redis', 'sso-redis', 'sso-opaque-redis']

export const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    diag: { type: 'boolean', default: false },
    vus: { type: 'string', default: '32' },
    rounds: { type: 'string' },
    'soak-requests': { type: 'string', default: '2000000' },
    /** Node/V8 flags for the gateway process only, instead of the shipped ones (the Dockerfile's NODE_OPTIONS); `=` alone for V8's defaults. */
    'gateway-node-options': { type: 'string' },
    /** Let the scheduler place the processes (default: servers on the last CPU, the load driver on the others). */
    'no-pin': { type: 'boolean', default: false },
    /** Also the gateway started in-process with its logger at warn, as the bench ran it before: an extra row, not how it ships. */
    'in-process': { type: 'boolean', default: false },
    /** Instead of the rates: instructions per SSO flow (gateway, peer) and per ES256 signature under valgrind's callgrind. */
    callgrind: { type: 'boolean', default: false },
    /** SSO flows measured per callgrind row (after three times as many to warm up). */
    'callgrind-flows': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})

if (args.help) {
  process.stdout.write(`npm run bench [-- --quick] [-- --soak] [-- --profile] [-- --diag] [-- --in-process] [-- --only ${SCENARIOS.join(',')}]
                [-- --vus N] [-- --rounds N] [-- --soak-requests N] [-- --gateway-node-options "FLAGS"] [-- --no-pin]
npm run bench -- --callgrind [-- --quick] [-- --callgrind-flows N]
See bench/README.md.
`)
  process.exit(0)
}

/** The scenarios this run measures. */
export const only = new Set((args.only?.split(',') ?? SCENARIOS.filter((s) => (args.diag || !DIAGNOSTICS.includes(s)) && (args['in-process'] || !EXTRAS.includes(s)))) as Scenario[])
for (const key of only) if (!(SCENARIOS as readonly string[]).includes(key)) throw new Error(`--only: no scenario ${key} (${SCENARIOS.join(', ')})`)
/** Runs that change what is measured (a subset, other flags) are written apart, never over the standard results (so are profiled runs: `-profile`). */
export const custom = args.only !== undefined || args.diag || args.rounds !== undefined || args['gateway-node-options'] !== undefined || args['no-pin'] || args['in-process'] || args.vus !== '32'
export const VUS = Number(args.vus)
// Each scenario is measured in slices, interleaved round by round (A B C A B C …): on a shared
// 2-core machine, load from elsewhere then hits every scenario alike instead of whichever ran at that moment.
// Every slice warms its server up first, the first round longest: a gateway compiles its hot path in V8's
// worker threads while it first serves a row, and a process that sat idle while the other rows ran has
// had its heap shrunk by V8's memory reducer. With 0.3 s warm-ups the Redis gateway's first slice of a
// round spent 0.2 to 0.5 ms more CPU per flow than its second, nearly all of it in V8's worker threads
// (per-thread CPU from /proc); with these, the two slices cost the same (bench/README.md).
export const TIMING = args.quick
  ? { rounds: 3, firstWarmupMs: 3000, warmupMs: 1000, sliceMs: 1500 }
  : { rounds: 5, firstWarmupMs: 4000, warmupMs: 1500, sliceMs: 3000 }
export const ROUNDS = args.rounds === undefined ? TIMING.rounds : Number(args.rounds)
export const SIGNING_JWKS = fileURLToPath(new URL('../certs/dev/signing.jwks.json', import.meta.url))
export const SEALING_JWKS = fileURLToPath(new URL('../certs/dev/sealing.jwks.json', import.meta.url))
export const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))
export const ADMIN_TOKEN = 'bench-admin-token-of-at-least-32-characters'
/** Seconds before the soak's memory is judged: the memory store keeps each code's single-use guard 60 s, swept every 30 s. */
export const SOAK_WARMUP_SEC = 120
/** SSO flows per callgrind measurement (three times as many before it warm up: bench/callgrind.ts). */
export const CALLGRIND_FLOWS = Number(args['callgrind-flows'] ?? (args.quick ? 200 : 500))
/** Signatures in one SSO flow with the JWT access token: the ID token and the access token. */
export const SIGNATURES_PER_FLOW = 2

/** Progress goes to stderr; stdout carries only the results. */
export function log (line: string): void {
  process.stderr.write(`${line}\n`)
}
