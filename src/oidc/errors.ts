/** OAuth 2.0 / OpenID Connect protocol errors: the RFC `error` code is the stable code. */

export const OAuthErrorCodes = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_response_type: 400,
  unsupported_token_type: 400,
  invalid_scope: 400,
  invalid_token: 401,
  access_denied: 400,
  login_required: 400,
  interaction_required: 400,
  consent_required: 400,
  account_selection_required: 400,
  request_not_supported: 400,
  request_uri_not_supported: 400,
  temporarily_unavailable: 503,
  server_error: 500,
} as const

export type OAuthErrorCode = keyof typeof OAuthErrorCodes

/** Where an authorization error is sent when the redirect URI has been validated (RFC 6749 §4.1.2.1, RFC 9207). */
export interface RedirectTarget { redirectUri: string, state?: string }

export interface OAuthErrorOptions {
  cause?: unknown
  /** Set once redirect_uri is validated: the error goes back to the relying party. */
  redirect?: RedirectTarget
  /** Seconds a client should wait (temporarily_unavailable). */
  retryAfter?: number
  /** The `WWW-Authenticate` scheme to challenge with on 401s. */
  challenge?: 'Basic' | 'Bearer'
  /** Overrides the code's usual status (a framework 413 or 415 reported as invalid_request). */
  status?: number
}

/** A protocol error with its RFC code, a human description, and its HTTP status. */
export class OAuthError extends Error {
  readonly error: OAuthErrorCode
  readonly status: number
  readonly redirect?: RedirectTarget
  readonly retryAfter?: number
  readonly challenge?: 'Basic' | 'Bearer'

  constructor (error: OAuthErrorCode, description: string, options: OAuthErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'OAuthError'
    this.error = error
    this.status = options.status ?? OAuthErrorCodes[error]
    if (options.redirect) this.redirect = options.redirect
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter
    if (options.challenge) this.challenge = options.challenge
  }

  /** The same error, now addressed to the relying party's redirect URI. */
  redirectTo (target: RedirectTarget): OAuthError {
    return new OAuthError(this.error, this.message, { cause: this.cause, redirect: target, ...(this.retryAfter === undefined ? {} : { retryAfter: this.retryAfter }) })
  }

  /** The RFC 6749 §5.2 JSON body. */
  toJSON (): { error: OAuthErrorCode, error_description: string } {
    return { error: this.error, error_description: this.message }
  }
}
