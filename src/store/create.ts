import type { Config } from '../config/resolve.js'
import { UnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { MemoryStore } from './memory.js'
import type { Store } from './store.js'

/** The store named by `store.kind`. */
export async function createStore (config: Config, deps: { log: Logger, metrics: Metrics }): Promise<Store> {
  const { log } = deps
  switch (config.store.kind) {
    case 'memory':
      log.info({ store: 'memory' }, 'using the in-memory store: single instance only')
      return new MemoryStore()
    default:
      throw new UnderstudyError('US_ERR_CONFIG_INVALID', `store kind ${config.store.kind} is not available in this build`)
  }
}
