import { UnderstudyError } from '../errors.js'
import type { Connector, UpstreamRegion } from './connector.js'

/** The region that should serve a new login: the first in config order. */
export function pickRegion (connector: Connector): UpstreamRegion {
  const region = connector.regions[0]
  if (!region) throw new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `provider ${connector.id} has no region`)
  return region
}

/** The region a login was sent to, by name (the callback must return to the same region). */
export function regionNamed (connector: Connector, name: string): UpstreamRegion {
  const region = connector.regions.find((r) => r.name === name)
  if (!region) throw new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `provider ${connector.id} has no region ${name}`)
  return region
}
