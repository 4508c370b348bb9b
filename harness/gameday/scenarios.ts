import { directoryDown, hangRedis, killGateway, killRedis, regionDown, together, upstreamDown, upstreamLatency, upstreamResets, type Fault } from './faults.js'
import { UPSTREAM_REGIONS } from './topology.js'

/**
 * One step of a scenario: a fault, held, then cleared — or kept while the
 * next step adds to it. With `cohort`, the users who added a passkey log in
 * with it on new devices while the step holds, once the gateways know the
 * upstream is down.
 */
export interface Step { fault: Fault, keep?: boolean, cohort?: boolean }

export interface Scenario {
  name: ScenarioName
  title: string
  description: string
  steps: Step[]
}

export const SCENARIO_NAMES = ['monkey', 'gorilla', 'kong', 'directory'] as const
export type ScenarioName = typeof SCENARIO_NAMES[number]

/** The scenarios, after Netflix's Simian Army: one process, one region, then everything; and the directory, the one dependency that only backup logins have. */
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
      description: 'The whole upstream goes down (every region), and the users who added a passkey beforehand log in with it on new devices; then additionally the whole of gateway region A goes down (process and Redis); then everything recovers.',
      steps: [
        { fault: upstreamDown(UPSTREAM_REGIONS), keep: true, cohort: true },
        { fault: regionDown('a') },
      ],
    }
    case 'directory': return {
      name,
      title: 'The directory\'s database unreachable, with the upstream up, then down',
      description: 'The directory\'s PostgreSQL becomes unreachable from both gateways while the upstream works: upstream, SSO and cached logins must not notice (new users are just not offered a passkey). Then the whole upstream goes down as well, and the users who added a passkey try it on new devices: each must be told temporarily_unavailable, none may get another sub. Then both recover.',
      steps: [
        { fault: directoryDown(), keep: true },
        { fault: upstreamDown(UPSTREAM_REGIONS), cohort: true },
      ],
    }
  }
}
