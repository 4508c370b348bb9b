import type { ProviderConfig, RegionConfig } from '../../../config/resolve.js'
import { UnderstudyError } from '../../../errors.js'
import { buildAuthorizationUrl } from '../../authorization-url.js'
import { checkCallbackIssuer } from '../../callback-issuer.js'
import type { Connector, ConnectorFactory, UpstreamAuthorization, UpstreamCodeExchange, UpstreamIdentity, UpstreamRegion } from '../../connector.js'
import { upstreamJson, upstreamProbe } from '../../http.js'
import { redeemCode, refreshUpstream, type RedeemOptions } from '../../token-request.js'
import { mapClaims } from './claim-mapping.js'

/** Builds a `kind: oauth2` connector (Kakao, Naver style): explicit endpoints per region, identity from userinfo. */
export const createOAuth2Connector: ConnectorFactory = (config, options) => {
  const regions = config.regions.map((region) => new OAuth2Region(config, region, options.timeoutMs))
  return {
    id: config.id,
    kind: 'oauth2',
    regions,
    async close () {},
  } satisfies Connector
}

interface Endpoints { authorization: string, token: string, userinfo: string }

/** One region of a plain OAuth 2.0 provider. */
class OAuth2Region implements UpstreamRegion {
  readonly provider: string
  readonly name: string
  readonly #config: ProviderConfig
  readonly #endpoints: Endpoints
  readonly #timeoutMs: number

  constructor (config: ProviderConfig, region: RegionConfig, timeoutMs: number) {
    const { authorizationEndpoint, tokenEndpoint, userinfoEndpoint } = region
    // resolveConfig guarantees these for kind oauth2; failing here means a config that skipped validation.
    if (authorizationEndpoint === undefined || tokenEndpoint === undefined || userinfoEndpoint === undefined || config.claims?.sub === undefined) {
      throw new TypeError(`provider ${config.id} region ${region.name}: kind oauth2 needs every endpoint and claims.sub`)
    }
    this.provider = config.id
    this.name = region.name
    this.#config = config
    this.#endpoints = { authorization: authorizationEndpoint, token: tokenEndpoint, userinfo: userinfoEndpoint }
    this.#timeoutMs = timeoutMs
  }

  async authorizationUrl (request: UpstreamAuthorization): Promise<string> {
    return buildAuthorizationUrl(this.#endpoints.authorization, request, { clientId: this.#config.clientId, scopes: this.#config.scopes, pkce: this.#config.pkce, nonce: false, reauthenticate: this.#config.reauthenticate })
  }

  async exchangeCode (exchange: UpstreamCodeExchange): Promise<UpstreamIdentity> {
    // Plain OAuth 2.0 providers rarely send `iss`; compare it only when both sides name one.
    checkCallbackIssuer(exchange.iss, this.#config.issuer, false)
    const tokens = await redeemCode(this.#endpoints.token, exchange, this.#tokenOptions())
    return this.#identity(tokens.accessToken, tokens.refreshToken, exchange.signal)
  }

  async refresh (refreshToken: string, expectedSub: string, signal?: AbortSignal): Promise<UpstreamIdentity> {
    const tokens = await refreshUpstream(this.#endpoints.token, refreshToken, this.#tokenOptions(), signal)
    const identity = await this.#identity(tokens.accessToken, tokens.refreshToken, signal)
    if (identity.sub !== expectedSub) throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the refreshed identity is another user', { details: { operation: 'refresh' } })
    return identity
  }

  // Plain OAuth 2.0 has no ID token: the identity is whatever userinfo says, mapped through `claims`.
  async #identity (accessToken: string | undefined, refreshToken: string | undefined, signal: AbortSignal | undefined): Promise<UpstreamIdentity> {
    if (accessToken === undefined) throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the token response has no access_token', { details: { operation: 'token' } })
    const userinfo = await upstreamJson(this.#endpoints.userinfo, { bearer: accessToken, signal, timeoutMs: this.#timeoutMs, operation: 'userinfo' })
    return { ...mapClaims(userinfo, this.#config.claims ?? {}), accessToken, refreshToken }
  }

  #tokenOptions (): RedeemOptions {
    return {
      clientId: this.#config.clientId,
      clientSecret: this.#config.clientSecret,
      authMethod: this.#config.tokenEndpointAuthMethod ?? 'client_secret_post',
      pkce: this.#config.pkce,
      timeoutMs: this.#timeoutMs,
    }
  }

  async probe (signal?: AbortSignal): Promise<void> {
    await upstreamProbe(this.#config.healthCheck.url ?? this.#endpoints.authorization, { signal, timeoutMs: this.#timeoutMs, operation: 'probe' })
  }
}
