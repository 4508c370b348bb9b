import { Cluster, type Redis } from 'ioredis'
import type { Logger } from '../log.js'
import { connectRedis, describeTarget, waitUntilReady, type RedisClient, type RedisTarget, type RedisTimeouts } from './redis-connection.js'
import type { SharedDocuments, Store, Versioned } from './store.js'
import type { Write } from './write.js'

export interface RedisStoreOptions extends RedisTarget, RedisTimeouts {
  /** Prepended to every key, so several deployments can share one Redis (default `understudy:`). */
  keyPrefix?: string
  log: Logger
}

/**
 * Moves a family forward from `generation` (ARGV[1]) to the next one, unless
 * it already moved past it: a compare-and-set that must be atomic, or two
 * concurrent refreshes with one token would both win.
 */
const ROTATE_FAMILY = `
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], tonumber(ARGV[1]) + 1, 'PX', ARGV[2])
return 1`

/**
 * Keeps ARGV[2] at version ARGV[1] unless the key holds a later version (on a
 * tie, the greater value): `later` in write.ts, atomically. The value is
 * stored as `<version>.<value>`, one string, so a SCAN copies it like any key.
 */
const KEEP_LATEST = `
local offered = ARGV[1] .. '.' .. ARGV[2]
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+)%.'))
  local mine = tonumber(ARGV[1])
  if version and (version > mine or (version == mine and current >= offered)) then return 0 end
end
redis.call('SET', KEYS[1], offered, 'PX', ARGV[3])
return 1`

/**
 * Writes the tombstone KEYS[1] unless it exists, and answers 1 when it wrote
 * it: the single-use guard of a code. It also refuses, and also writes, the
 * guard KEYS[2] (`once:{id}`) that versions before this one redeemed codes with
 * (`claimOnce` between `isRevoked` and `revoke`), so that during a rolling
 * upgrade a code redeemed at an old instance and a new one at once still has
 * exactly one winner. Both keys share the id's hash tag (one Cluster slot).
 */
const REVOKE_ONCE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return 1`

/**
 * Writes back a shared document held while Redis could not be reached: ARGV[3] '1' deletes it, else it
 * becomes ARGV[4], for ARGV[5] ms when not empty. Done if Redis holds nothing under the key (it restarted
 * empty, or the document expired), or still holds what the writer last saw there (ARGV[1] '1': nothing;
 * else ARGV[2]); already done if it holds the new value (a write that timed out, then ran). 1 when the
 * document is as written, 0 when another writer changed it meanwhile.
 */
const REPLACE_DOCUMENT = `
local current = redis.call('GET', KEYS[1])
if ARGV[3] == '1' then
  if not current then return 1 end
elseif current == ARGV[4] then
  return 1
end
if current and (ARGV[1] == '1' or current ~= ARGV[2]) then return 0 end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1`

/** Keys read per SCAN step when copying a store. */
const SCAN_PAGE = 256

interface Scripts {
  understudyRotateFamily (key: string, generation: number, ttlMs: number): Promise<number>
  understudyKeepLatest (key: string, version: number, value: string, ttlMs: number): Promise<number>
  understudyRevokeOnce (tombstone: string, olderGuard: string, ttlMs: number): Promise<number>
  understudyReplaceDocument (key: string, expectAbsent: string, expected: string, remove: string, value: string, ttlMs: string): Promise<number>
}

/**
 * The Redis store (standalone, Sentinel or Cluster). Each key carries its id
 * in a hash tag (`{...}`), so everything about one id lives in one Cluster
 * slot; every key has a TTL. Commands fail fast instead of queueing while
 * Redis is unreachable: the caller decides how to fall back.
 */
export class RedisStore implements Store {
  readonly name = 'redis'
  /** host:port, `sentinel:<name>` or `cluster:<seeds>`, for logs. */
  readonly target: string
  readonly #client: RedisClient
  readonly #prefix: string
  readonly #restartListeners: Array<() => void> = []
  /** The `run_id` of the server last connected to: another one after a reconnect means a restart or a failover. */
  #runId: string | undefined
  /** The server check of the latest connection, waited for by `open`. */
  #checked: Promise<void> = Promise.resolve()

  private constructor (client: RedisClient, target: string, prefix: string) {
    this.#client = client
    this.target = target
    this.#prefix = prefix
    client.defineCommand('understudyRotateFamily', { numberOfKeys: 1, lua: ROTATE_FAMILY })
    client.defineCommand('understudyKeepLatest', { numberOfKeys: 1, lua: KEEP_LATEST })
    client.defineCommand('understudyRevokeOnce', { numberOfKeys: 2, lua: REVOKE_ONCE })
    client.defineCommand('understudyReplaceDocument', { numberOfKeys: 1, lua: REPLACE_DOCUMENT })
    // A Redis that restarts between two commands is never seen down: the client just reconnects. Without
    // persistence it came back empty, so each (re)connection compares the server's run_id with the last one.
    // (A Cluster spreads keys over nodes with a run_id each: there a restart is noticed by failed commands only.)
    if (!(client instanceof Cluster)) client.on('ready', () => { this.#checked = this.#checkServer(client) })
  }

  /**
   * Connects and waits until Redis is ready or the connect timeout has passed.
   * An unreachable Redis does not stop the gateway from starting: the client
   * keeps reconnecting in the background.
   */
  static async open (options: RedisStoreOptions): Promise<RedisStore> {
    const client = connectRedis(options, options, options.log)
    const store = new RedisStore(client, describeTarget(options), options.keyPrefix ?? 'understudy:')
    await waitUntilReady(client, options.connectTimeoutMs)
    await store.#checked
    return store
  }

  /** The `run_id` of the server last connected to (standalone and Sentinel; undefined in a Cluster, or before a first connection). */
  get serverId (): string | undefined {
    return this.#runId
  }

  /** Runs `listener` when a reconnection finds another server process than before (a restart, a failover): it may have lost what it held. */
  onRestart (listener: () => void): void {
    this.#restartListeners.push(listener)
  }

  async #checkServer (client: Redis): Promise<void> {
    let runId: string | undefined
    try {
      runId = /^run_id:(\w+)/m.exec(await client.info('server'))?.[1]
    } catch {
      return
    }
    if (runId === undefined) return
    const before = this.#runId
    this.#runId = runId
    if (before !== undefined && before !== runId) for (const listener of this.#restartListeners) listener()
  }

  /** True while the connection is up and ready for commands. */
  get ready (): boolean {
    return this.#client.status === 'ready'
  }

  async claimOnce (key: string, ttlSec: number): Promise<boolean> {
    return (await this.#client.set(this.#key('once', key), '1', 'PX', ms(ttlSec), 'NX')) === 'OK'
  }

  async revoke (id: string, ttlSec: number): Promise<void> {
    await this.#client.set(this.#key('revoked', id), '1', 'PX', ms(ttlSec))
  }

  async isRevoked (id: string): Promise<boolean> {
    return (await this.#client.exists(this.#key('revoked', id))) === 1
  }

  async anyRevoked (ids: readonly string[]): Promise<boolean> {
    const keys = ids.map((id) => this.#key('revoked', id))
    if (keys.length === 0) return false
    // Each id is its own hash tag, and a Cluster refuses one command over keys of several slots:
    // there, one EXISTS per key (auto-pipelining still sends them in one write per node).
    if (this.#client instanceof Cluster && keys.length > 1) return (await Promise.all(keys.map(async (key) => this.#client.exists(key)))).some((n) => n > 0)
    return (await this.#client.exists(...keys)) > 0
  }

  /**
   * The tombstone itself is the guard (written only if absent), so a tombstone from `revoke` (or a
   * peer) also refuses; REVOKE_ONCE keeps the older versions' guard in step, in the same one command.
   */
  async revokeOnce (id: string, ttlSec: number): Promise<boolean> {
    const scripts = this.#client as unknown as Scripts
    return (await scripts.understudyRevokeOnce(this.#key('revoked', id), this.#key('once', id), ms(ttlSec))) === 1
  }

  async familyGeneration (familyId: string): Promise<number | undefined> {
    const value = await this.#client.get(this.#key('family', familyId))
    return value === null ? undefined : Number(value)
  }

  async rotateFamily (familyId: string, generation: number, ttlSec: number): Promise<'rotated' | 'reused'> {
    const scripts = this.#client as unknown as Scripts
    return (await scripts.understudyRotateFamily(this.#key('family', familyId), generation, ms(ttlSec))) === 1 ? 'rotated' : 'reused'
  }

  async keepLatest (key: string, value: string, version: number, ttlSec: number): Promise<void> {
    const scripts = this.#client as unknown as Scripts
    await scripts.understudyKeepLatest(this.#key('latest', key), version, value, ms(ttlSec))
  }

  async latest (key: string): Promise<Versioned | undefined> {
    const stored = await this.#client.get(this.#key('latest', key))
    return stored === null ? undefined : parseLatest(stored)
  }

  async ping (): Promise<void> {
    await this.#client.ping()
  }

  /** Shared documents and streams in this Redis (one key each, hash-tagged). */
  readonly shared: SharedDocuments = {
    get: async (key) => (await this.#client.get(this.#key('doc', key))) ?? undefined,
    set: async (key, value, ttlSec) => {
      if (ttlSec === undefined) await this.#client.set(this.#key('doc', key), value)
      else await this.#client.set(this.#key('doc', key), value, 'PX', ms(ttlSec))
      return true
    },
    delete: async (key) => { await this.#client.del(this.#key('doc', key)) },
    append: async (stream, value, maxLength) => {
      const key = this.#key('stream', stream)
      await this.#client.multi().rpush(key, value).ltrim(key, -maxLength, -1).exec()
    },
    tail: async (stream, limit) => this.#client.lrange(this.#key('stream', stream), -limit, -1),
  }

  /**
   * Sets (or, `value` undefined, deletes) a shared document unless another writer changed it since it
   * was `expected` (undefined: absent), atomically (REPLACE_DOCUMENT): false when one did. For writing
   * back what was written while this store could not be reached, without overwriting a newer change.
   */
  async replaceDocument (key: string, expected: string | undefined, value: string | undefined, ttlSec?: number): Promise<boolean> {
    const scripts = this.#client as unknown as Scripts
    const ttlMs = value === undefined || ttlSec === undefined ? '' : String(ms(ttlSec))
    return (await scripts.understudyReplaceDocument(this.#key('doc', key), expected === undefined ? '1' : '0', expected ?? '', value === undefined ? '1' : '0', value ?? '', ttlMs)) === 1
  }

  /** Every live key as a convergent write (SCAN, page by page): what a Redis that restarted empty must be told again. */
  async * records (): AsyncGenerator<Write> {
    const nodes = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client]
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${this.#prefix}*`, 'COUNT', SCAN_PAGE)
        cursor = next
        const pipeline = node.pipeline()
        for (const key of keys) pipeline.pttl(key).get(key)
        const answers = keys.length === 0 ? [] : await pipeline.exec() ?? []
        const now = Date.now()
        for (const [i, key] of keys.entries()) {
          const ttlMs = Number(answers[2 * i]?.[1])
          const write = ttlMs > 0 ? toWrite(key.slice(this.#prefix.length), String(answers[2 * i + 1]?.[1]), now + ttlMs) : undefined
          if (write) yield write
        }
      } while (cursor !== '0')
    }
  }

  async close (): Promise<void> {
    // Quit politely when connected; the error listener stays so a late error cannot crash the process.
    this.#client.removeAllListeners('close')
    this.#client.removeAllListeners('ready')
    if (this.ready) await this.#client.quit().catch(() => undefined)
    this.#client.disconnect()
  }

  #key (kind: string, id: string): string {
    return `${this.#prefix}${kind}:{${id}}`
  }
}

/** A key of this store (`once:{k}`, `revoked:{id}`, `family:{id}`, `latest:{k}` after the prefix) and its value as a write. */
function toWrite (key: string, value: string, expiresAt: number): Write | undefined {
  const match = /^(once|revoked|family|latest):\{(.*)\}$/.exec(key)
  if (!match) return undefined
  const id = match[2]!
  if (match[1] === 'once') return { op: 'claim', key: id, expiresAt }
  if (match[1] === 'revoked') return { op: 'revoke', id, expiresAt }
  if (match[1] === 'family') return { op: 'rotate', familyId: id, generation: Number(value) - 1, expiresAt }
  const latest = parseLatest(value)
  return latest && { op: 'latest', key: id, ...latest, expiresAt }
}

/** A `<version>.<value>` string as KEEP_LATEST stores it. */
function parseLatest (stored: string): Versioned | undefined {
  const dot = stored.indexOf('.')
  const version = Number(stored.slice(0, dot))
  return dot > 0 && Number.isSafeInteger(version) ? { value: stored.slice(dot + 1), version } : undefined
}

function ms (ttlSec: number): number {
  return Math.max(1, Math.ceil(ttlSec * 1000))
}
