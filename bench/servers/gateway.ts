// An extra row only (`--in-process`): the gateway started by startGateway inside a bench child,
// its logger at `warn` and so no access lines, as the bench measured it before it ran the CLI.
// Not how it ships: the rows that judge the targets run `npm start`'s command (bench/lib/gateway-cli.ts).
import { destination } from 'pino'
import { createLogger } from '../../src/cli/logger.js'
import { startGateway, type RunningGateway } from '../../src/cli/start.js'
import { validateConfig } from '../../src/config/load.js'
import { serve } from '../lib/child.js'

let running: RunningGateway | undefined

serve({
  async start (raw) {
    const config = validateConfig(raw, { source: 'bench config', env: {} })
    running = await startGateway(config, { logger: createLogger({ level: 'warn', destination: destination({ dest: 1, sync: false }) }) })
    return { url: running.url, adminUrl: running.adminUrl }
  },
}, async () => { await running?.close() })
