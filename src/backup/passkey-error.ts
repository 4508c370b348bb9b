import { UnderstudyError } from '../errors.js'

/**
 * Why a passkey ceremony was refused, for the page the user sees and the log
 * line (docs/errors.md lists each). `counter` alone means more than a failed
 * attempt: a valid signature from a credential whose counter went backwards,
 * so two authenticators hold the key (a clone); log it at error.
 */
export const PASSKEY_REFUSALS = [
  'ceremony', 'expired', 'replayed', 'malformed', 'challenge', 'origin', 'rp-id',
  'user-verification', 'verification', 'unknown-credential', 'counter',
] as const

export type PasskeyRefusal = typeof PASSKEY_REFUSALS[number]

/**
 * A refused passkey registration or login (US_ERR_PASSKEY_REFUSED). Callers
 * switch on `reason`; the message is ours, and what the WebAuthn library said
 * stays in `cause`, for the log only.
 */
export class PasskeyError extends UnderstudyError {
  readonly reason: PasskeyRefusal

  constructor (reason: PasskeyRefusal, message: string, cause?: unknown) {
    super('US_ERR_PASSKEY_REFUSED', `passkey refused (${reason}): ${message}`, { cause, details: { reason } })
    this.name = 'PasskeyError'
    this.reason = reason
  }
}

/** True when `err` is a PasskeyError, optionally for the given reason. */
export function isPasskeyError (err: unknown, reason?: PasskeyRefusal): err is PasskeyError {
  return err instanceof PasskeyError && (reason === undefined || err.reason === reason)
}
