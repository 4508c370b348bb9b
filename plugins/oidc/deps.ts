import type { AccountVisitDeps } from '../../src/backup/account-visit.js'
import type { Gateway } from '../../src/gateway.js'
import type { AuthorizeDeps } from '../../src/oidc/authorize.js'
import type { CallbackDeps } from '../../src/oidc/callback.js'
import type { LogoutDeps } from '../../src/oidc/logout.js'
import type { RevocationDeps } from '../../src/oidc/revocation.js'
import type { TokenDeps } from '../../src/oidc/token.js'

/** What the OIDC endpoints use of the gateway: the union of each endpoint's own dependencies. */
export type EndpointDeps = AuthorizeDeps & CallbackDeps & TokenDeps & RevocationDeps & LogoutDeps & AccountVisitDeps

/** The endpoints' dependencies, taken from the gateway once when the routes are registered (never per request). */
export function endpointDeps (gw: Gateway): EndpointDeps {
  return {
    issuer: gw.config.issuer,
    keys: gw.keys,
    now: () => gw.now(),
    store: gw.store,
    clients: gw.clients,
    upstreams: gw.upstreams,
    providers: gw.config.providers,
    tokens: gw.config.tokens,
    cookies: gw.cookies,
    sessionLifetime: gw.sessionLifetime,
    metrics: gw.metrics,
    recordLogin: (client, provider, outcome, method) => gw.recordLogin(client, provider, outcome, method),
    ...(gw.backup ? { backup: gw.backup } : {}),
    identityEvents: gw.identityEvents,
  }
}
