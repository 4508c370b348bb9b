import t, { type Test } from 'tap'
import type { BreakerPolicy } from '../../src/config/resolve.js'
import { UnderstudyError } from '../../src/errors.js'
import type { Logger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { RegionBreaker } from '../../src/resilience/breaker.js'
import type { Connector, UpstreamIdentity, UpstreamRegion } from '../../src/upstream/connector.js'
import { classifyUpstreamFailure, isUnconfirmedExchangeFailure } from '../../src/upstream/failure.js'
import { MAX_CODE_LENGTH, UpstreamRouter } from '../../src/upstream/router.js'

// The browser picks the code at /callback: a 5xx the token endpoint answers to it must not count as an
// outage until the gateway's own probe of the region fails too (SECURITY.md, degraded-path threat table).

const POLICY: BreakerPolicy = { timeout: 1, errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeout: 60, rollingCountTimeout: 10 }
const N = 10

/** What the upstream's http layer throws for a status answer of `operation`. */
const answered = (status: number, operation = 'token') => new UnderstudyError('US_ERR_UPSTREAM_HTTP', `upstream ${operation} at http://idp.test/${operation} answered ${status}`, { details: { status, operation, url: `http://idp.test/${operation}` } })

/** A code the gateway makes up to probe the token endpoint: 32 random bytes, base64url. */
const MADE_UP = /^[A-Za-z0-9_-]{43}$/

/**
 * One region of a fake provider: the token endpoint chokes on codes that start with `garbage`, and answers a
 * code nobody issued (the gateway's probe) with `invalid_grant` while `probeAnswer` lets it.
 */
class FakeRegion implements UpstreamRegion {
  readonly provider = 'idp'
  readonly name = 'primary'
  /** Every code from a browser that reached the token endpoint. */
  readonly exchanged: string[] = []
  /** Codes the gateway made up to probe the token endpoint. */
  probes = 0
  /** How the token endpoint answers a garbage code. */
  garbage: () => Error = () => answered(500)
  /** How the token endpoint's answer to a made-up code begins; replaced to hold it open or to fail it. */
  probeAnswer: () => Promise<void> = async () => {}
  /** Health-check probes (discovery): the corroboration never uses them. */
  healthProbes = 0

  async authorizationUrl (): Promise<string> { return 'http://idp.test/authorize' }
  async exchangeCode ({ code, codeVerifier }: { code: string, codeVerifier?: string }): Promise<UpstreamIdentity> {
    if (MADE_UP.test(code) && codeVerifier !== undefined && MADE_UP.test(codeVerifier)) {
      this.probes++
      await this.probeAnswer()
      throw new UnderstudyError('US_ERR_UPSTREAM_OAUTH', 'upstream token endpoint answered invalid_grant', { details: { error: 'invalid_grant', operation: 'token' } })
    }
    this.exchanged.push(code)
    if (code.startsWith('garbage')) throw this.garbage()
    return { sub: 'alice', claims: {} }
  }

  async refresh (): Promise<UpstreamIdentity> { throw new Error('not used') }
  async probe (): Promise<void> {
    this.healthProbes++
  }
}

interface Rig { region: FakeRegion, breaker: RegionBreaker, router: UpstreamRouter, warnings: Array<Record<string, unknown> & { msg?: string }> }

function rig (t: Test, policy: BreakerPolicy = POLICY): Rig {
  const metrics = new Metrics({ defaults: false })
  const region = new FakeRegion()
  const breaker = new RegionBreaker('idp', 'primary', policy, { metrics, onTransition: () => {} })
  t.teardown(() => breaker.shutdown())
  const warnings: Rig['warnings'] = []
  const log: Logger = { debug () {}, info () {}, warn (obj, msg) { warnings.push({ ...obj, msg }) }, error () {} }
  const connector: Connector = { id: 'idp', kind: 'oidc', regions: [region], async close () {} }
  return { region, breaker, router: new UpstreamRouter(connector, [breaker], { metrics, log }), warnings }
}

const exchange = (r: Rig, code: string) => r.router.exchangeCode('primary', { code, redirectUri: 'http://gw.test/callback/idp', nonce: 'n' })

/** The error `p` rejects with. */
async function failure (p: Promise<unknown>): Promise<UnderstudyError> {
  try {
    await p
  } catch (err) {
    return err as UnderstudyError
  }
  throw new Error('expected the exchange to fail')
}

async function until (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('garbage codes answered with a 5xx or 429 by an upstream that answers its probe are fatal, never counted: the breaker stays closed', async (t) => {
  for (const status of [500, 503, 429]) {
    const r = rig(t)
    r.region.garbage = () => answered(status)
    for (let i = 0; i < N; i++) {
      const err = await failure(exchange(r, `garbage-${i}`))
      t.equal(classifyUpstreamFailure(err), 'fatal', `${status} #${i}: fatal, so no cached login`)
      t.match(err, { code: 'US_ERR_UPSTREAM_HTTP', details: { status, probe: 'up', provider: 'idp', region: 'primary' } })
    }
    t.equal(r.breaker.state, 'closed', `${N} garbage codes answered ${status} (volumeThreshold ${POLICY.volumeThreshold}) leave the breaker closed`)
    t.equal(r.breaker.stats().failures, 0, 'not one failure counted')
    t.equal(r.region.probes, N, 'each was corroborated by a probe of its own (none in flight to share)')
    t.equal(r.region.healthProbes, 0, 'at the token endpoint, not the discovery document')
    t.equal(r.warnings.length, N, 'each logged at warn')
    t.match(r.warnings[0], { provider: 'idp', region: 'primary', status })
    t.notMatch(JSON.stringify(r.warnings), /garbage/, 'the logs never carry the code')
    t.same(await exchange(r, 'a-real-code'), { sub: 'alice', claims: {} }, 'a real code still goes to the upstream')
  }
})

t.test('when the probe fails too, the region really is failing: the exchange\'s error stays transient and counts, and the breaker opens', async (t) => {
  const r = rig(t)
  r.region.probeAnswer = async () => { throw answered(503) }
  const thrown: Error[] = []
  r.region.garbage = () => { const err = answered(503); thrown.push(err); return err }
  for (let i = 0; i < POLICY.volumeThreshold; i++) {
    const err = await failure(exchange(r, `garbage-${i}`))
    t.equal(err, thrown[i], 'the exchange\'s own error, unchanged')
    t.equal(classifyUpstreamFailure(err), 'transient', 'transient: a cached login may stand in, as before')
  }
  t.equal(r.breaker.state, 'open', 'counted: the breaker opened')
  t.match(await failure(exchange(r, 'a-real-code')), { code: 'US_ERR_UPSTREAM_UNAVAILABLE', details: { breaker: 'open' } })
  t.equal(r.warnings.length, 0)
})

t.test('only the token endpoint\'s own refusal of the made-up code proves it answers; a probe that fails otherwise proves nothing', async (t) => {
  const inconclusive: Array<[string, () => Error]> = [
    ['a check that fails before the request is sent', () => new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the callback\'s iss is missing', { details: { operation: 'token' } })],
    ['a 503 (the token endpoint down while discovery, which the health check reads, is served)', () => answered(503)],
    ['a 429 (the gateway\'s client throttled)', () => answered(429)],
    ['a timeout', () => new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'timed out', { details: { operation: 'token' } })],
  ]
  for (const [what, probeError] of inconclusive) {
    const r = rig(t)
    r.region.probeAnswer = async () => { throw probeError() }
    const err = await failure(exchange(r, 'garbage-1'))
    t.equal(classifyUpstreamFailure(err), 'transient', `${what}: the exchange's 5xx stands and counts, as it did`)
    t.equal(r.breaker.stats().failures, 1, `${what}: counted`)
  }
  const refused = rig(t)
  refused.region.probeAnswer = async () => { throw answered(400) }
  t.equal(classifyUpstreamFailure(await failure(exchange(refused, 'garbage-1'))), 'fatal', 'a 400 without an OAuth body is the token endpoint answering too')
})

t.test('timeouts, network errors, injected faults and 5xx of browser-free requests count as before, without a probe', async (t) => {
  const causes: Array<[string, () => Error]> = [
    ['a refused connection', () => new UnderstudyError('US_ERR_UPSTREAM_NETWORK', 'refused', { details: { reason: 'ECONNREFUSED', operation: 'token' } })],
    ['a timeout', () => new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'timed out', { details: { operation: 'token' } })],
    ['a JWKS fetch answered 503', () => answered(503, 'jwks')],
    ['a userinfo call answered 502', () => answered(502, 'userinfo')],
    ['a game day\'s injected error', () => new UnderstudyError('US_ERR_UPSTREAM_HTTP', 'injected', { details: { status: 503, injected: true } })],
  ]
  for (const [what, cause] of causes) {
    const r = rig(t)
    r.region.garbage = cause
    t.notOk(isUnconfirmedExchangeFailure(cause()), `${what} is the gateway's own evidence`)
    for (let i = 0; i < POLICY.volumeThreshold; i++) t.equal(classifyUpstreamFailure(await failure(exchange(r, `garbage-${i}`))), 'transient', what)
    t.equal(r.breaker.state, 'open', `${what} counts`)
    t.equal(r.region.probes, 0, `${what} needs no probe`)
  }
  t.ok(isUnconfirmedExchangeFailure(answered(500)) && isUnconfirmedExchangeFailure(answered(429)), 'a token endpoint\'s 5xx and 429 are unconfirmed')
  t.notOk(isUnconfirmedExchangeFailure(answered(400)), 'a 4xx is a refusal already')
})

t.test('a burst of garbage codes shares one probe per region', async (t) => {
  const r = rig(t)
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  r.region.probeAnswer = async () => held
  const burst = Array.from({ length: 20 }, async (_, i) => failure(exchange(r, `garbage-${i}`)))
  await until(() => r.region.exchanged.length === 20, 'every exchange to reach the token endpoint')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(r.region.probes, 1, 'one probe in flight for all of them')
  release()
  for (const err of await Promise.all(burst)) t.equal(classifyUpstreamFailure(err), 'fatal')
  t.equal(r.region.probes, 1, 'still one probe')
  t.equal(r.breaker.state, 'closed')
  await failure(exchange(r, 'garbage-later'))
  t.equal(r.region.probes, 2, 'a later garbage code gets a new probe: only one in flight is shared, no answer is cached')
})

t.test('a 5xx answer to a code never closes a half-open breaker: the gateway\'s own probe decides the trial', async (t) => {
  const r = rig(t, { ...POLICY, resetTimeout: 0.05 })
  r.breaker.probeFailed()
  await until(() => r.breaker.state === 'half-open', 'half-open')
  r.region.probeAnswer = async () => { throw new UnderstudyError('US_ERR_UPSTREAM_NETWORK', 'refused', { details: { reason: 'ECONNREFUSED', operation: 'token' } }) }
  t.equal(classifyUpstreamFailure(await failure(exchange(r, 'garbage-trial'))), 'transient')
  t.equal(r.breaker.state, 'open', 'the region is still down: the trial failed, the breaker did not close')

  await until(() => r.breaker.state === 'half-open', 'half-open again')
  r.region.probeAnswer = async () => {}
  t.equal(classifyUpstreamFailure(await failure(exchange(r, 'garbage-trial-2'))), 'fatal')
  t.equal(r.breaker.state, 'closed', 'the region answered the gateway\'s probe, as the health check\'s trial would: closed on that, not on the 5xx')
})

t.test('a malformed code is refused before any upstream call, never counted', async (t) => {
  const r = rig(t)
  const malformed: Array<[string, string]> = [
    ['a line feed', 'abc\ndef'],
    ['a tab', 'abc\tdef'],
    ['a non-ASCII letter', 'caf\u00e9'],
    ['a DEL', 'abc\u007f'],
    ['a NUL', 'abc\u0000'],
    ['a space', 'abc def'],
    ['a quote', "abc'def"],
    ['markup', '<script>'],
    ['a semicolon', 'a;b'],
    ['nothing', ''],
    [`${MAX_CODE_LENGTH + 1} characters`, 'x'.repeat(MAX_CODE_LENGTH + 1)],
  ]
  for (const [what, code] of malformed) {
    const err = await failure(exchange(r, code))
    t.equal(classifyUpstreamFailure(err), 'fatal', `${what}: fatal`)
    t.match(err.message, /malformed code/)
  }
  t.same(r.region.exchanged, [], 'none reached the token endpoint')
  t.equal(r.region.probes, 0)
  t.equal(r.breaker.stats().fires, 0, 'nothing went through the breaker')
  for (const code of ['x'.repeat(MAX_CODE_LENGTH), '4/0AX4-x_y.z~+/=*!:@,$%'] as const) await exchange(r, code)
  t.equal(r.region.exchanged.length, 2, 'the characters providers\' codes use, up to the bound, are sent')
})
