import type { ProviderConfig, RegionConfig } from '../../../config/resolve.js'
import { UnderstudyError } from '../../../errors.js'
import { buildAuthorizationUrl } from '../../authorization-url.js'
import { Cached, sharedBackup } from '../../cached.js'
import { checkCallbackIssuer } from '../../callback-issuer.js'
import type { Connector, ConnectorFactory, ConnectorOptions, UpstreamAuthorization, UpstreamCodeExchange, UpstreamIdentity, UpstreamRegion } from '../../connector.js'
import { upstreamJson, upstreamProbe } from '../../http.js'
import { chooseAuthMethod, redeemCode, refreshUpstream, type RedeemOptions } from '../../token-request.js'
import { pickStandardClaims } from './claims.js'
import { discoveryCodec, discoveryUrl, fetchDiscovery, type OidcMetadata } from './discovery.js'
import { idTokenAlgorithms, verifyIdToken } from './id-token.js'
import { KEY_SET_CODEC, UpstreamKeys } from './keys.js'

// Discovery documents and key sets change rarely; an hour bounds how long a rotation goes unnoticed.
const METADATA_TTL_MS = 60 * 60 * 1000
// The session's auth_time must be the upstream's, which an OP includes only when asked (OIDC Core §5.5.1);
// amr is asked for too, to be passed on. An upstream without the claims parameter is asked through max_age.
const AUTHENTICATION_CLAIMS = JSON.stringify({ id_token: { auth_time: { essential: true }, amr: null } })
// An upstream without the claims parameter must still return auth_time (OIDC Core §3.1.2.1 makes it REQUIRED
// whenever max_age is sent): a month is old enough never to force a login the relying party did not ask for.
const AUTH_TIME_MAX_AGE = 30 * 24 * 3600

/** Builds a `kind: oidc` connector: every region reads its own discovery document and JWKS. */
export const createOidcConnector: ConnectorFactory = (config, options) => {
  const regions = config.regions.map((region) => new OidcRegion(config, region, options))
  return {
    id: config.id,
    kind: 'oidc',
    regions,
    async close () {},
  } satisfies Connector
}

/** One region of an OpenID Provider, reached at its own URL but sharing the provider's issuer and client. */
class OidcRegion implements UpstreamRegion {
  readonly provider: string
  readonly name: string
  readonly #config: ProviderConfig
  readonly #issuer: string
  readonly #url: string
  readonly #timeoutMs: number
  readonly #discovery: Cached<OidcMetadata>
  readonly #keys: UpstreamKeys

  constructor (config: ProviderConfig, region: RegionConfig, options: ConnectorOptions) {
    const { timeoutMs } = options
    // resolveConfig guarantees both for kind oidc; failing here means a config that skipped validation.
    if (config.issuer === undefined || region.url === undefined) throw new TypeError(`provider ${config.id} region ${region.name}: kind oidc needs issuer and url`)
    this.provider = config.id
    this.name = region.name
    this.#config = config
    this.#issuer = config.issuer
    this.#url = region.url
    this.#timeoutMs = timeoutMs
    const stale = (document: 'discovery' | 'jwks') => (err: unknown) => options.onStale?.({ provider: config.id, region: region.name, document, err })
    const backupKey = (document: string) => `upstream:${config.id}:${region.name}:${document}`
    this.#discovery = new Cached(async () => fetchDiscovery(this.#url, this.#issuer, timeoutMs), {
      ttlMs: METADATA_TTL_MS,
      onStale: stale('discovery'),
      ...(options.backups ? { backup: sharedBackup(options.backups, backupKey('discovery'), 'discovery', discoveryCodec(this.#issuer)) } : {}),
    })
    this.#keys = new UpstreamKeys(async () => (await this.#discovery.get()).jwks_uri, {
      timeoutMs,
      ttlMs: METADATA_TTL_MS,
      onStale: stale('jwks'),
      ...(options.backups ? { backup: sharedBackup(options.backups, backupKey('jwks'), 'jwks', KEY_SET_CODEC) } : {}),
    })
  }

  warm (): void {
    this.#discovery.get().then(() => this.#keys.warm(), () => {})
  }

  async authorizationUrl (request: UpstreamAuthorization, signal?: AbortSignal): Promise<string> {
    const metadata = await this.#discovery.get(signal)
    const claimsParameter = metadata.claims_parameter_supported === true
    const asked = claimsParameter || request.maxAge !== undefined ? request : { ...request, maxAge: AUTH_TIME_MAX_AGE }
    return buildAuthorizationUrl(metadata.authorization_endpoint, asked, {
      clientId: this.#config.clientId,
      scopes: this.#config.scopes,
      pkce: this.#config.pkce,
      nonce: true,
      reauthenticate: this.#config.reauthenticate,
      ...(claimsParameter ? { claims: AUTHENTICATION_CLAIMS } : {}),
    })
  }

  async exchangeCode (exchange: UpstreamCodeExchange): Promise<UpstreamIdentity> {
    const metadata = await this.#discovery.get(exchange.signal)
    checkCallbackIssuer(exchange.iss, this.#issuer, metadata.authorization_response_iss_parameter_supported === true)
    const tokens = await redeemCode(metadata.token_endpoint, exchange, this.#tokenOptions(metadata))
    if (tokens.idToken === undefined) throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the token response has no id_token', { details: { operation: 'token' } })
    const idToken = await verifyIdToken(tokens.idToken, this.#keys.resolver(exchange.signal), {
      issuer: this.#issuer,
      clientId: this.#config.clientId,
      nonce: exchange.nonce,
      algorithms: idTokenAlgorithms(metadata.id_token_signing_alg_values_supported),
    })
    const userinfo = await this.#userinfo(metadata, tokens.accessToken, idToken.sub, exchange.signal)
    return {
      sub: idToken.sub,
      claims: { ...pickStandardClaims(idToken), ...pickStandardClaims(userinfo) },
      refreshToken: tokens.refreshToken,
      accessToken: tokens.accessToken,
      ...(idToken.auth_time === undefined ? {} : { authTime: idToken.auth_time }),
      ...(idToken.amr === undefined ? {} : { amr: idToken.amr }),
    }
  }

  async refresh (refreshToken: string, expectedSub: string, signal?: AbortSignal): Promise<UpstreamIdentity> {
    const metadata = await this.#discovery.get(signal)
    const tokens = await refreshUpstream(metadata.token_endpoint, refreshToken, this.#tokenOptions(metadata), signal)
    let claims: Record<string, unknown> = {}
    if (tokens.idToken !== undefined) {
      const idToken = await verifyIdToken(tokens.idToken, this.#keys.resolver(signal), { issuer: this.#issuer, clientId: this.#config.clientId, algorithms: idTokenAlgorithms(metadata.id_token_signing_alg_values_supported) })
      if (idToken.sub !== expectedSub) throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the refreshed ID token is about another user', { details: { operation: 'refresh' } })
      claims = pickStandardClaims(idToken)
    }
    const userinfo = await this.#userinfo(metadata, tokens.accessToken, expectedSub, signal)
    return { sub: expectedSub, claims: { ...claims, ...pickStandardClaims(userinfo) }, refreshToken: tokens.refreshToken, accessToken: tokens.accessToken }
  }

  async probe (signal?: AbortSignal): Promise<void> {
    await upstreamProbe(this.#config.healthCheck.url ?? discoveryUrl(this.#url), { signal, timeoutMs: this.#timeoutMs, operation: 'probe' })
  }

  #tokenOptions (metadata: OidcMetadata): RedeemOptions {
    return {
      clientId: this.#config.clientId,
      clientSecret: this.#config.clientSecret,
      authMethod: chooseAuthMethod(this.#config.tokenEndpointAuthMethod, metadata.token_endpoint_auth_methods_supported),
      pkce: this.#config.pkce,
      timeoutMs: this.#timeoutMs,
    }
  }

  // Userinfo only enriches the ID token's claims: fail-open, so the login goes on with what the ID token says.
  // A response about another subject is an attack or a bug, and is ignored like a failure (OIDC Core §5.3.2).
  async #userinfo (metadata: OidcMetadata, accessToken: string | undefined, sub: string, signal: AbortSignal | undefined): Promise<Record<string, unknown> | undefined> {
    if (metadata.userinfo_endpoint === undefined || accessToken === undefined) return undefined
    try {
      const userinfo = await upstreamJson(metadata.userinfo_endpoint, { bearer: accessToken, signal, timeoutMs: this.#timeoutMs, operation: 'userinfo' })
      return userinfo.sub === sub ? userinfo : undefined
    } catch {
      return undefined
    }
  }
}
