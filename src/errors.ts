/**
 * Every internal (non-OAuth) error of understudy, declared in one place with a
 * stable code. Callers switch on `code`, never on message text.
 * OAuth protocol errors live in `oidc/errors.ts`; their code is the RFC `error`.
 */
export const ErrorCodes = {
  US_ERR_CONFIG_INVALID: 'the config file is invalid',
  US_ERR_CONFIG_READ: 'the config file cannot be read or parsed',
  US_ERR_KEYS_INVALID: 'a key file is missing, unreadable or holds unusable keys',
  US_ERR_KEYS_DEV: 'a key file holds the committed development keys and the issuer is not on localhost',
  US_ERR_KEYS_EXPOSED: 'a key file is readable or writable by every user of the host',
  US_ERR_SEAL_INVALID: 'a sealed token is malformed, forged, expired or of the wrong kind',
  US_ERR_UPSTREAM_TIMEOUT: 'an upstream call timed out',
  US_ERR_UPSTREAM_NETWORK: 'an upstream call failed at the network level',
  US_ERR_UPSTREAM_HTTP: 'an upstream call answered with an unexpected HTTP status',
  US_ERR_UPSTREAM_OAUTH: 'the upstream answered with an OAuth error',
  US_ERR_UPSTREAM_INVALID: 'the upstream answered with something that fails validation',
  US_ERR_UPSTREAM_UNAVAILABLE: 'no region of the upstream can serve the call',
  US_ERR_UPSTREAM_BUSY: 'the gateway has as many code exchanges in flight to an upstream region as it allows',
  US_ERR_STORE_UNAVAILABLE: 'the store cannot be reached',
  US_ERR_DIRECTORY_UNAVAILABLE: 'the directory (backup login data) cannot answer',
  US_ERR_DIRECTORY_MIGRATION: 'the directory\'s schema cannot be brought up to date',
  US_ERR_PASSKEY_REFUSED: 'a passkey registration or login was refused',
} as const

export type ErrorCode = keyof typeof ErrorCodes

/** Base class of every internal error: a stable `code`, a message, an optional cause and details. */
export class UnderstudyError extends Error {
  readonly code: ErrorCode
  readonly details: Record<string, unknown>

  constructor (code: ErrorCode, message: string = ErrorCodes[code], options: { cause?: unknown, details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'UnderstudyError'
    this.code = code
    this.details = options.details ?? {}
  }
}

/** True when `err` is an UnderstudyError, optionally with the given code. */
export function isUnderstudyError (err: unknown, code?: ErrorCode): err is UnderstudyError {
  return err instanceof UnderstudyError && (code === undefined || err.code === code)
}
