import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

/** What one SSO flow asks of Redis, counted by the server. */
export interface RedisPerFlow {
  flows: number
  /** Commands executed (INFO commandstats calls), per flow. */
  commands: number
  /** Read events on the server (INFO stats total_reads_processed), per flow: one per request that reached it, a MULTI/EXEC or pipeline sent at once counting one. */
  roundTrips: number
  /** Per flow, by command. */
  byCommand: Record<string, number>
  /** Commands per second with no flow running (health probes and the like), subtracted above. */
  idleCommandsPerSec: number
}

interface Snapshot { at: number, reads: number, calls: Map<string, number> }

/**
 * Counts the Redis work of `flows` flows, run one after another (so the round
 * trips are the flow's own, not shared by concurrent flows), from the
 * server's own counters before and after: `INFO stats commandstats` over a
 * connection of the bench's. The background rate, measured for `idleMs`
 * beforehand, is taken out; so are the INFO calls themselves.
 */
export async function countRedisPerFlow (url: string, flows: number, run: () => Promise<unknown>, idleMs = 1000): Promise<RedisPerFlow> {
  const redis = new Redis(url)
  try {
    const snapshot = async (): Promise<Snapshot> => {
      const info = await redis.info('stats', 'commandstats')
      const calls = new Map([...info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)].map(([, name, n]) => [name!, Number(n)]))
      return { at: performance.now(), reads: Number(/^total_reads_processed:(\d+)/m.exec(info)?.[1]), calls }
    }
    const idleStart = await snapshot()
    await sleep(idleMs)
    const idle = delta(idleStart, await snapshot())
    const start = await snapshot()
    for (let i = 0; i < flows; i++) await run()
    const work = delta(start, await snapshot())
    const scale = work.ms / idle.ms
    const byCommand: Record<string, number> = {}
    for (const [name, calls] of work.calls) {
      const perFlow = (calls - (idle.calls.get(name) ?? 0) * scale) / flows
      if (perFlow > 0.005) byCommand[name] = round(perFlow)
    }
    const idleCommands = sum(idle.calls)
    return {
      flows,
      commands: round((sum(work.calls) - idleCommands * scale) / flows),
      roundTrips: round((work.reads - idle.reads * scale) / flows),
      byCommand,
      idleCommandsPerSec: round(idleCommands / (idle.ms / 1000)),
    }
  } finally {
    redis.disconnect()
  }
}

/** What happened between two snapshots, less the one INFO request the later one reports (its command and its read). */
function delta (a: Snapshot, b: Snapshot): { ms: number, reads: number, calls: Map<string, number> } {
  const calls = new Map<string, number>()
  for (const [name, n] of b.calls) if (name !== 'info' && n - (a.calls.get(name) ?? 0) > 0) calls.set(name, n - (a.calls.get(name) ?? 0))
  return { ms: b.at - a.at, reads: b.reads - a.reads - 1, calls }
}

function sum (calls: Map<string, number>): number {
  return [...calls.values()].reduce((n, c) => n + c, 0)
}

function round (value: number): number {
  return Math.round(value * 100) / 100
}
