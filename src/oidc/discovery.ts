import { SIGNING_ALGS, type Keyring } from '../keys/keyring.js'
import { ACR_BACKUP, ACR_CACHED, ACR_UPSTREAM } from '../sessions/freshness.js'
import { SCOPE_CLAIMS, SUPPORTED_SCOPES } from './claims.js'

/** The OpenID Provider metadata (OIDC Discovery 1.0, RFC 8414). */
export function discoveryDocument (deps: { issuer: string, keys: Pick<Keyring, 'signer'> }): Record<string, unknown> {
  const issuer = deps.issuer
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    revocation_endpoint: `${issuer}/revoke`,
    introspection_endpoint: `${issuer}/introspect`,
    end_session_endpoint: `${issuer}/logout`,
    scopes_supported: SUPPORTED_SCOPES,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: SIGNING_ALGS.filter((alg) => deps.keys.signer(alg)),
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    code_challenge_methods_supported: ['S256'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'sid', 'at_hash', ...Object.values(SCOPE_CLAIMS).flat()],
    acr_values_supported: [ACR_UPSTREAM, ACR_CACHED, ACR_BACKUP],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    authorization_response_iss_parameter_supported: true,
    prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
  }
}
