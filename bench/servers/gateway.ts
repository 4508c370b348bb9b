// The gateway under test, in its own process: config from the bench, logs at `warn`.
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
  async memory () {
    return process.memoryUsage()
  },
  async gcMemory () {
    const before = process.memoryUsage()
    ;(globalThis as { gc?: () => void }).gc?.()
    return { before, after: process.memoryUsage() }
  },
}, async () => { await running?.close() })
