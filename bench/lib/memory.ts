import { readFile } from 'node:fs/promises'
import type { Http } from './http.js'

/** The gateway's memory at the end (MB): V8's view from its /metrics, and resident memory by mapping from /proc. */
export interface GatewayMemory { usage: Record<string, number>, heapSpaces: Record<string, number>, residentMb: Record<string, number> }

const mb = (bytes: number) => Math.round(bytes / 2 ** 20 * 10) / 10

/** Resident memory of a process by mapping (MB, mappings of at least 1 MB), from /proc/<pid>/smaps (Linux). */
export async function residentByMapping (pid: number | 'self'): Promise<Record<string, number>> {
  const mappings: Record<string, number> = {}
  let name = ''
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header) { name = header[1]?.split('/').pop() || '[anonymous]'; continue }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss) mappings[name] = (mappings[name] ?? 0) + Number(rss[1]) / 1024
  }
  return Object.fromEntries(Object.entries(mappings).filter(([, v]) => v >= 1).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v * 10) / 10]))
}

/**
 * The CLI gateway's memory, read from outside as an operator would: the
 * Node.js default metrics on its admin /metrics (prom-client), and /proc.
 */
export async function gatewayMemory (http: Http, pid: number, adminUrl: string): Promise<GatewayMemory> {
  const text = (await http.send(`${adminUrl}/metrics`)).body
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  const usage = {
    rss: mb(value('process_resident_memory_bytes')),
    heapTotal: mb(value('nodejs_heap_size_total_bytes')),
    heapUsed: mb(value('nodejs_heap_size_used_bytes')),
    external: mb(value('nodejs_external_memory_bytes')),
  }
  const heapSpaces = Object.fromEntries([...text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([^"]+)"\} (\S+)$/gm)].map(([, space, bytes]) => [space!, mb(Number(bytes))]))
  return { usage, heapSpaces, residentMb: await residentByMapping(pid) }
}
