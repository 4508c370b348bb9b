import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { startFaultProxy, type FaultProxy } from '../../harness/fault-proxy.js'
import { freePort } from '../../harness/free-port.js'
import { until } from '../../harness/poll.js'
import { RedisServer as HarnessRedisServer, type RedisServerOptions } from '../../harness/redis-server.js'
import { requireTool } from './tools.js'

export { until }

/**
 * Real Redis processes for tests: standalone servers, a Sentinel group and a
 * three-node Cluster, on free ports of 127.0.0.1, each stopped in the
 * teardown of the test that started it.
 */

const run = promisify(execFile)

/**
 * False when redis-server is on PATH, otherwise why the Redis tests are
 * skipped. Under CI=true a missing redis-server throws: a failure, not a skip.
 */
export const noRedis: false | string = requireTool('redis-server')

/** The harness's Redis process, started for one test and stopped in its teardown. */
export type RedisServer = HarnessRedisServer
export const RedisServer = {
  /** Starts a redis-server on a free port (or `port`), stopped in `t`'s teardown. */
  async start (t: Test, options: RedisServerOptions = {}): Promise<RedisServer> {
    return owned(t, HarnessRedisServer.start(options))
  },
  /** Starts a Sentinel watching the master group `name` at `masterPort`, stopped in `t`'s teardown. */
  async sentinel (t: Test, name: string, masterPort: number, auth: { password?: string, sentinelPassword?: string } = {}): Promise<RedisServer> {
    return owned(t, HarnessRedisServer.sentinel(name, masterPort, auth))
  },
}

async function owned (t: Test, starting: Promise<HarnessRedisServer>): Promise<HarnessRedisServer> {
  const server = await starting
  t.teardown(() => server.close())
  return server
}

/** A master, one replica and `sentinels` Sentinels watching them. */
export interface SentinelGroup {
  name: string
  master: RedisServer
  replica: RedisServer
  sentinels: RedisServer[]
  /** The sentinels' addresses, as `store.redis.sentinels` takes them. */
  nodes: Array<{ host: string, port: number }>
}

/** Starts a Sentinel group whose replica is in sync and known to every Sentinel. */
export async function startSentinelGroup (t: Test, options: { sentinels?: number, password?: string, sentinelPassword?: string } = {}): Promise<SentinelGroup> {
  const name = 'understudy'
  const { password, sentinelPassword } = options
  const auth = password === undefined ? {} : { password }
  // Without the default 5 s wait for more replicas before a diskless sync.
  const master = await RedisServer.start(t, { args: ['--repl-diskless-sync-delay', '0'], ...auth })
  const replica = await RedisServer.start(t, { args: ['--replicaof', '127.0.0.1', String(master.port)], ...auth })
  await until(async () => (await replica.cli('info', 'replication')).includes('master_link_status:up'), 10_000, 'the replica is in sync')
  const sentinels = await Promise.all(Array.from({ length: options.sentinels ?? 1 }, () => RedisServer.sentinel(t, name, master.port, { ...auth, ...(sentinelPassword === undefined ? {} : { sentinelPassword }) })))
  for (const sentinel of sentinels) {
    await until(async () => (await sentinel.cli('sentinel', 'replicas', name)).includes(String(replica.port)), 15_000, 'the sentinel knows the replica')
  }
  return { name, master, replica, sentinels, nodes: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })) }
}

/** Three masters (no replicas) forming one Cluster whose every slot is served. */
export async function startCluster (t: Test, options: { proxied?: boolean } = {}): Promise<{ nodes: RedisServer[], urls: string[], proxies: FaultProxy[] }> {
  const nodes: RedisServer[] = []
  const proxies: FaultProxy[] = []
  for (let i = 0; i < 3; i++) {
    // A cluster node also listens on port + 10000 (the cluster bus).
    const port = await freePort({ bus: true })
    const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']
    if (options.proxied) {
      // Clients reach the node through a fault proxy: the node announces the proxy's port (its bus stays its own).
      const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port } })
      t.teardown(() => proxy.close())
      proxies.push(proxy)
      args.push('--cluster-announce-port', String(proxy.port), '--cluster-announce-bus-port', String(port + 10_000))
    }
    nodes.push(await RedisServer.start(t, { port, args }))
  }
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'])
  for (const node of nodes) await until(async () => (await node.cli('cluster', 'info')).includes('cluster_state:ok'), 15_000, `cluster node ${node.port} is ok`)
  return { nodes, urls: options.proxied ? proxies.map((p) => `redis://${p.address}`) : nodes.map((n) => n.url), proxies }
}
