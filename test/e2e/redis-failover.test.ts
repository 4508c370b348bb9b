import t, { type Test } from 'tap'
import type { CodePayload } from '../../src/oidc/code.js'
import type { RefreshPayload } from '../../src/oidc/tokens.js'
import { unseal } from '../../src/sessions/seal.js'
import { Browser } from '../../harness/browser.js'
import { authorizeCode, backChannel, pkcePair, redeemCode, refresh, type ClientName } from '../helpers/oidc.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
import { authorizeUrl, CLIENTS, startStack, type Stack } from '../helpers/stack.js'

const COMMAND_TIMEOUT_MS = 500

/** A browser that records how long each of its requests took. */
class TimedBrowser extends Browser {
  readonly #latencies: number[]
  constructor (latencies: number[]) {
    super()
    this.#latencies = latencies
  }

  override async fetch (...args: Parameters<Browser['fetch']>): ReturnType<Browser['fetch']> {
    const started = performance.now()
    try {
      return await super.fetch(...args)
    } finally {
      this.#latencies.push(performance.now() - started)
    }
  }
}

/**
 * Users logging in (through the upstream, then by SSO to a second client) and
 * refreshing, as fast as a few workers can, until stopped. Every request's
 * latency and every failure is recorded, with the phase it happened in.
 */
class LoginStream {
  phase = 'before'
  readonly failures: string[] = []
  readonly latencies: number[] = []
  readonly done: Record<string, number> = {}
  #running = true
  readonly #workers: Array<Promise<void>>

  readonly stack: Stack
  constructor (stack: Stack, workers = 3) {
    this.stack = stack
    this.#workers = Array.from({ length: workers }, (_v, i) => this.#work(i))
  }

  async stop (): Promise<void> {
    this.#running = false
    await Promise.all(this.#workers)
  }

  async #timed<T> (call: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      return await call()
    } finally {
      this.latencies.push(performance.now() - started)
    }
  }

  async #work (worker: number): Promise<void> {
    for (let n = 0; this.#running; n++) {
      const phase = this.phase
      try {
        const browser = new TimedBrowser(this.latencies)
        const { tokens } = await this.#login(browser, 'shop', `stream-${worker}-${n}`)
        await this.#login(browser, 'news')
        let refreshToken = tokens.refresh_token
        for (let i = 0; i < 2; i++) {
          const reply = await this.#timed(() => refresh(this.stack, 'shop', refreshToken))
          if (reply.status !== 200) throw new Error(`refresh answered ${reply.status} ${reply.text}`)
          refreshToken = reply.json.refresh_token
        }
        this.done[phase] = (this.done[phase] ?? 0) + 1
      } catch (err) {
        this.failures.push(`${phase}: ${(err as Error).message}`)
      }
    }
  }

  async #login (browser: Browser, client: ClientName, user?: string) {
    const { verifier, challenge } = pkcePair()
    const { code } = await authorizeCode(this.stack, client, { code_challenge: challenge, code_challenge_method: 'S256' }, { browser, ...(user ? { user } : {}) })
    return { tokens: await this.#timed(() => redeemCode(this.stack, client, code, { code_verifier: verifier })) }
  }
}

async function redisStack (t: Test, redis: RedisServer): Promise<Stack> {
  const stack = await startStack({ config: { store: { kind: 'redis', redis: { url: redis.url, commandTimeout: `${COMMAND_TIMEOUT_MS}ms` } } } })
  t.teardown(() => stack.close())
  return stack
}

/** Waits until the stream has completed `flows` logins (with their refreshes) that started in `phase`. */
async function flowsIn (stream: LoginStream, phase: string, flows = 2): Promise<void> {
  await until(async () => (stream.done[phase] ?? 0) >= flows, 20_000, `${flows} flows complete ${phase}`)
}

/** Waits until the gateway uses its Redis again (its store's health check answers ok). */
async function storeBack (stack: Stack): Promise<void> {
  await until(async () => (await stack.gateway.gateway.store.health!()).status === 'ok', 20_000, 'the gateway reaches its Redis again')
}

/** True when `browser`'s gateway session still logs it in silently. */
async function ssoWorks (stack: Stack, browser: Browser): Promise<boolean> {
  const answer = await browser.fetch(authorizeUrl(stack.issuer, 'shop', { prompt: 'none' }))
  return new URL(answer.location!).searchParams.has('code')
}

t.test('killing the local Redis during logins and refreshes fails no request and loses no session; after its restart the state is consistent', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const stack = await redisStack(t, redis)
  const keys = stack.gateway.gateway.keys

  // Before the kill: a session and refresh token to keep, a code already used, a family already revoked.
  const keptBrowser = new Browser()
  const pkce = pkcePair()
  const used = await authorizeCode(stack, 'shop', { code_challenge: pkce.challenge, code_challenge_method: 'S256' }, { browser: keptBrowser, user: 'kept' })
  let keptRefresh = (await redeemCode(stack, 'shop', used.code, { code_verifier: pkce.verifier })).refresh_token
  const revokedPkce = pkcePair()
  const toRevoke = await authorizeCode(stack, 'shop', { code_challenge: revokedPkce.challenge, code_challenge_method: 'S256' }, { user: 'revoked' })
  const revokedRefresh = (await redeemCode(stack, 'shop', toRevoke.code, { code_verifier: revokedPkce.verifier })).refresh_token
  t.equal((await backChannel(stack, '/revoke', 'shop', { token: revokedRefresh })).status, 200)

  const stream = new LoginStream(stack)
  await flowsIn(stream, 'before')
  await redis.kill()
  stream.phase = 'during'
  await flowsIn(stream, 'during')
  t.ok(await ssoWorks(stack, keptBrowser), 'a session from before the kill logs in by SSO during the outage')
  const during = await refresh(stack, 'shop', keptRefresh)
  t.equal(during.status, 200, 'a refresh token from before the kill refreshes during the outage')
  keptRefresh = during.json.refresh_token
  await redis.restart()
  stream.phase = 'after'
  await storeBack(stack)
  await flowsIn(stream, 'after')
  await stream.stop()

  t.same(stream.failures, [], 'no request failed')
  t.ok((stream.done.during ?? 0) > 0, `users logged in and refreshed during the outage (${JSON.stringify(stream.done)})`)
  t.ok(await ssoWorks(stack, keptBrowser), 'the session still logs in after the restart')
  t.equal((await refresh(stack, 'shop', keptRefresh)).status, 200, 'the refresh chain continues after the restart')
  const reused = await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code: used.code, redirect_uri: CLIENTS.shop.redirectUris[0]!, code_verifier: pkce.verifier })
  t.equal(reused.json?.error, 'invalid_grant', 'a code used before the kill cannot be used after the restart')
  t.equal((await refresh(stack, 'shop', revokedRefresh)).json?.error, 'invalid_grant', 'a family revoked before the kill stays revoked')

  const { gid } = unseal<RefreshPayload>(keys, 'refresh', revokedRefresh, Math.floor(Date.now() / 1000))
  const { jti } = unseal<CodePayload>(keys, 'code', used.code, Math.floor(Date.now() / 1000))
  await until(async () => (await redis.cli('exists', `understudy:revoked:{${gid}}`, `understudy:revoked:{code:${jti}}`)).trim() === '2', 10_000, 'the restarted Redis holds the tombstone and the used code again')
})

t.test('while the local Redis hangs, no request waits much longer than the command timeout', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const stack = await redisStack(t, redis)
  const stream = new LoginStream(stack)
  await flowsIn(stream, 'before')
  redis.pause()
  t.teardown(() => redis.resume())
  stream.phase = 'during'
  await flowsIn(stream, 'during')
  redis.resume()
  stream.phase = 'after'
  await storeBack(stack)
  await flowsIn(stream, 'after')
  await stream.stop()

  t.same(stream.failures, [], 'no request failed')
  t.ok((stream.done.during ?? 0) > 0, `users logged in and refreshed while Redis hung (${JSON.stringify(stream.done)})`)
  const slowest = Math.max(...stream.latencies)
  // Generous slack for a noisy machine: without the breaker, a request would wait several command timeouts.
  t.ok(slowest < COMMAND_TIMEOUT_MS + 1_500, `the slowest of ${stream.latencies.length} requests took ${Math.round(slowest)} ms (command timeout ${COMMAND_TIMEOUT_MS} ms)`)
})
