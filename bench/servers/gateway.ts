// The gateway under test, in its own process: config from the bench, logs at `warn`.
import { readFile } from 'node:fs/promises'
import { getHeapSpaceStatistics } from 'node:v8'
import { destination } from 'pino'
import { createLogger } from '../../src/cli/logger.js'
import { startGateway, type RunningGateway } from '../../src/cli/start.js'
import { validateConfig } from '../../src/config/load.js'
import { serve } from '../lib/child.js'

let running: RunningGateway | undefined

serve({
  async start (raw) {
    const config = validateConfig(raw, { source: 'bench config', env: {} })
    // Per-request JSON log lines would dominate the profile; warnings (probe failures) still show.
    running = await startGateway(config, { logger: createLogger({ level: 'warn', destination: destination({ dest: 1, sync: false }) }) })
    return { url: running.url, adminUrl: running.adminUrl }
  },
  /** Where the memory is: process.memoryUsage, V8's heap spaces, and resident memory by mapping (MB). */
  async memory () {
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20 * 10) / 10
    const usage = Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, mb(v)]))
    const heapSpaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, mb(s.space_size)]))
    const mappings: Record<string, number> = {}
    let name = ''
    for (const line of (await readFile('/proc/self/smaps', 'utf8')).split('\n')) {
      const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
      if (header) { name = header[1]?.split('/').pop() || '[anonymous]'; continue }
      const rss = /^Rss:\s+(\d+) kB/.exec(line)
      if (rss) mappings[name] = (mappings[name] ?? 0) + Number(rss[1]) / 1024
    }
    const residentMb = Object.fromEntries(Object.entries(mappings).filter(([, v]) => v >= 1).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v * 10) / 10]))
    return { usage, heapSpaces, residentMb }
  },
  /** process.memoryUsage before and after a full GC (the soak runs the gateway with --expose-gc). */
  async gcMemory () {
    const before = process.memoryUsage()
    const gc = (globalThis as { gc?: () => void }).gc
    if (gc === undefined) throw new Error('start the gateway with --expose-gc')
    gc()
    return { before, after: process.memoryUsage() }
  },
}, async () => { await running?.close() })
