import { hangRedis, killGateway, killRedis, regionDown, together, upstreamDown, upstreamLatency, upstreamResets, type Fault } from './faults.js'
import { UPSTREAM_REGIONS } from './topology.js'

/** One step of a scenario: a fault, held, then cleared — or kept while the next step adds to it. */
export interface Step { fault: Fault, keep?: boolean }

export interface Scenario {
  name: 'monkey' | 'gorilla' | 'kong'
  title: string
  description: string
  steps: Step[]
}

export const SCENARIO_NAMES = ['monkey', 'gorilla', 'kong'] as const
export type ScenarioName = typeof SCENARIO_NAMES[number]

/** The scenarios, after Netflix's Simian Army: one process, one region, then everything. */
export function scenario (name: ScenarioName): Scenario {
  switch (name) {
    case 'monkey': return {
      name,
      title: 'Chaos Monkey: one process at a time',
      description: 'Kills or hangs one component at a time, each followed by its recovery: the gateway serving the traffic, its Redis, the other region\'s Redis, then one upstream region (slow, then resetting connections).',
      steps: [
        { fault: killGateway('a') },
        { fault: killRedis('a') },
        { fault: hangRedis('b') },
        { fault: upstreamLatency('primary', 1_500), keep: true },
        { fault: upstreamResets('primary') },
      ],
    }
    case 'gorilla': return {
      name,
      title: 'Chaos Gorilla: one region',
      description: 'Upstream region primary and gateway region A\'s Redis go down together, as when one data centre burns.',
      steps: [{ fault: together(upstreamDown(['primary']), killRedis('a')) }],
    }
    case 'kong': return {
      name,
      title: 'Chaos Kong: everything upstream, then a gateway region',
      description: 'The whole upstream goes down (every region), then additionally the whole of gateway region A (process and Redis); then everything recovers.',
      steps: [
        { fault: upstreamDown(UPSTREAM_REGIONS), keep: true },
        { fault: regionDown('a') },
      ],
    }
  }
}
