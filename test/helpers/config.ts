import { validateConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/resolve.js'
import { DEV_KEYS } from './stack.js'

/**
 * A small valid config, with `sections` as a config file would write them,
 * loaded as the gateway loads it (defaults applied, durations in seconds):
 * for tests that hand one section to the code under test.
 */
export function loadedConfig (sections: Record<string, unknown> = {}): Config {
  return validateConfig({
    issuer: 'https://login.example.com',
    keys: DEV_KEYS,
    providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }] }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/callback'], providers: ['kakao'] }],
    ...sections,
  }, { env: {} })
}
