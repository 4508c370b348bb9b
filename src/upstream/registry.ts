import type { ProviderConfig } from '../config/resolve.js'
import type { Connector, ConnectorFactory, ConnectorOptions } from './connector.js'
import { createOAuth2Connector } from './connectors/oauth2/index.js'
import { createOidcConnector } from './connectors/oidc/index.js'

/** Every connector kind the gateway knows. Adding a kind: one folder under `connectors/` and one line here. */
const FACTORIES: Record<ProviderConfig['kind'], ConnectorFactory> = {
  oidc: createOidcConnector,
  oauth2: createOAuth2Connector,
}

/** Builds the connector for one configured provider. */
export function createConnector (config: ProviderConfig, options: ConnectorOptions): Connector {
  return FACTORIES[config.kind](config, options)
}
