import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { UnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'

/** TLS for rediss:// connections as `store.redis.tls` gives it: PEM file paths and the name to verify. */
export interface RedisTls {
  ca?: string
  cert?: string
  key?: string
  servername?: string
}

/** Where a Redis lives: a URL (redis:// or rediss://), a Sentinel group, or a Cluster's seed URLs. */
export interface RedisTarget {
  url?: string
  sentinels?: Array<{ host: string, port: number }>
  name?: string
  cluster?: string[]
  /** With sentinels: the master's and replicas' ACL user (a URL carries its own). */
  username?: string
  /** With sentinels: the master's and replicas' password (a URL carries its own). */
  password?: string
  /** With sentinels: the Sentinels' own password. */
  sentinelPassword?: string
  /** For rediss:// URLs. */
  tls?: RedisTls
}

/** The target `store.redis` names (this region's Redis; peers are URLs of their own). */
export function redisTarget (redis: RedisTarget): RedisTarget {
  const { url, sentinels, name, cluster, username, password, sentinelPassword, tls } = redis
  return {
    ...(url === undefined ? {} : { url }),
    ...(sentinels === undefined ? {} : { sentinels }),
    ...(name === undefined ? {} : { name }),
    ...(cluster === undefined ? {} : { cluster }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
    ...(tls === undefined ? {} : { tls }),
  }
}

/** The target of one peer: its URL, with `store.redis.tls` should it be rediss://. */
export function peerTarget (url: string, redis: RedisTarget): RedisTarget {
  return { url, ...(redis.tls === undefined ? {} : { tls: redis.tls }) }
}

/**
 * Node's TLS options for a rediss:// URL: the files read now (a missing one
 * stops the start with its path), server certificates always verified.
 */
function tlsOptions (tls: RedisTls | undefined): ConnectionOptions {
  const read = (key: 'ca' | 'cert' | 'key') => {
    const file = tls?.[key]
    if (file === undefined) return {}
    let pem: Buffer
    try {
      pem = readFileSync(file)
    } catch (err) {
      throw new UnderstudyError('US_ERR_CONFIG_INVALID', `store.redis.tls.${key}: cannot read ${file}`, { cause: err })
    }
    // An empty file (a placeholder Secret) would otherwise fail each handshake later with a vaguer error.
    if (!pem.includes('-----BEGIN ')) throw new UnderstudyError('US_ERR_CONFIG_INVALID', `store.redis.tls.${key}: ${file} holds no PEM`)
    return { [key]: pem }
  }
  return { ...read('ca'), ...read('cert'), ...read('key'), ...(tls?.servername === undefined ? {} : { servername: tls.servername }), rejectUnauthorized: true }
}

/** How long the login path may wait on Redis. */
export interface RedisTimeouts {
  /** Longest wait for one command's answer (ms). */
  commandTimeoutMs: number
  /** Longest wait for a TCP connection (ms). */
  connectTimeoutMs: number
}

export type RedisClient = Redis | Cluster

/** Reconnects forever with a capped exponential backoff: a Redis that comes back is picked up within 2 s. */
export function reconnectDelay (attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2_000)
}

/**
 * Options for a client on the login path: a command is answered within the
 * timeout or fails, never waits in an offline queue for a reconnect, and is
 * never sent again on a new connection. A READONLY answer means a Sentinel failover demoted
 * our master: reconnect, and Sentinel tells us the new one.
 * Commands issued in the same turn of the event loop (by every request in
 * flight) go out as one pipeline, one write and one read for all of them: a
 * login's few commands cost round trips, not Redis time. Each command keeps
 * its own timeout (armed when its pipeline is sent), and the breaker's
 * deadline bounds the wait for a pipeline still queued behind another.
 */
function nodeOptions (timeouts: RedisTimeouts): RedisOptions {
  return {
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    commandTimeout: timeouts.commandTimeoutMs,
    connectTimeout: timeouts.connectTimeoutMs,
    maxRetriesPerRequest: 1,
    // A command in flight when the connection drops fails; it is never sent again on the next connection.
    // Redis may have run it already (only its reply was lost): a single-use script run twice answers its
    // own first use as a replay, a code refused and its grant revoked, a refresh family ended.
    autoResendUnfulfilledCommands: false,
    retryStrategy: reconnectDelay,
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  }
}

/** The host:port a URL names, for logs, metrics and `/healthz`. */
export function endpointOf (url: string): string {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || '6379'}`
}

/** A short description of a target for logs. */
export function describeTarget (target: RedisTarget): string {
  if (target.url) return endpointOf(target.url)
  if (target.sentinels) return `sentinel:${target.name ?? 'mymaster'}`
  return `cluster:${(target.cluster ?? []).map(endpointOf).join(',')}`
}

/**
 * An ioredis client for `target` with login-path options. Its `error` events
 * are always listened to (an unhandled one would crash the process) and
 * logged once per change between reachable and unreachable.
 */
export function connectRedis (target: RedisTarget, timeouts: RedisTimeouts, log: Logger): RedisClient {
  const options = nodeOptions(timeouts)
  let client: RedisClient
  if (target.cluster) {
    const seeds = target.cluster.map((url) => new URL(url))
    const first = seeds[0]!
    const clusterOptions: ClusterOptions = {
      // Grouped per node by ioredis (nodeOptions says why).
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: timeouts.connectTimeoutMs,
      retryDelayOnClusterDown: 100,
      // A command whose connection closed (a failover, say) may have run: it fails, never sent again (nodeOptions says why).
      // A MOVED, ASK, TRYAGAIN or CLUSTERDOWN answer says it did not run, and is still followed.
      retryDelayOnFailover: 0,
      retryDelayOnTryAgain: 100,
      maxRedirections: 3,
      redisOptions: {
        commandTimeout: options.commandTimeout!,
        connectTimeout: options.connectTimeout!,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: false,
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
        ...(first.protocol === 'rediss:' ? { tls: tlsOptions(target.tls) } : {}),
      },
    }
    client = new Cluster(seeds.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })), clusterOptions)
  } else if (target.sentinels) {
    client = new Redis({
      ...options,
      sentinels: target.sentinels,
      name: target.name!,
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
      ...(target.sentinelPassword === undefined ? {} : { sentinelPassword: target.sentinelPassword }),
      role: 'master',
      failoverDetector: true,
      sentinelRetryStrategy: reconnectDelay,
      sentinelCommandTimeout: timeouts.commandTimeoutMs,
    })
  } else {
    client = new Redis(target.url!, target.url!.startsWith('rediss://') ? { ...options, tls: tlsOptions(target.tls) } : options)
  }
  watchReachability(client, describeTarget(target), log)
  return client
}

function watchReachability (client: RedisClient, redis: string, log: Logger): void {
  let reachable: boolean | undefined
  const lost = (err?: Error) => {
    if (reachable === false) return
    reachable = false
    log.warn({ err, redis }, 'redis unreachable; reconnecting in the background')
  }
  client.on('ready', () => {
    if (reachable === false) log.info({ redis }, 'redis reachable again')
    reachable = true
  })
  client.on('error', lost)
  client.on('close', () => { if (reachable === true) lost() })
}

/** Resolves when `client` is ready or `timeoutMs` has passed, whichever is first; never rejects. */
export async function waitUntilReady (client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer)
      client.off('ready', onReady)
      resolve(ready)
    }
    const onReady = () => done(true)
    const timer = setTimeout(() => done(client.status === 'ready'), timeoutMs)
    client.once('ready', onReady)
  })
}
