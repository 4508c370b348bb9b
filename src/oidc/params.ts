import { OAuthError } from './errors.js'

/** Longest value accepted for any single protocol parameter. */
export const MAX_PARAM_LENGTH = 4096

/** Request parameters as parsed by the HTTP layer: a value, or an array when a name repeats. */
export type RawParams = Record<string, unknown>

/**
 * Reads protocol parameters strictly: a repeated parameter is an error
 * (RFC 6749 §3.1), empty values count as absent, and each value is bounded.
 */
export class Params {
  readonly #raw: RawParams
  constructor (raw: RawParams | undefined | null) {
    this.#raw = raw !== null && typeof raw === 'object' ? raw : {}
  }

  /** The value of `name`, or undefined when absent or empty. */
  get (name: string): string | undefined {
    const value = this.#raw[name]
    if (value === undefined || value === null || value === '') return undefined
    if (Array.isArray(value)) throw new OAuthError('invalid_request', `parameter ${name} is repeated`)
    if (typeof value !== 'string') throw new OAuthError('invalid_request', `parameter ${name} is malformed`)
    if (value.length > MAX_PARAM_LENGTH) throw new OAuthError('invalid_request', `parameter ${name} is too long`)
    if (value.includes('\u0000')) throw new OAuthError('invalid_request', `parameter ${name} contains a NUL character`)
    return value
  }

  /** The value of `name`; invalid_request when it is missing. */
  require (name: string): string {
    const value = this.get(name)
    if (value === undefined) throw new OAuthError('invalid_request', `missing required parameter ${name}`)
    return value
  }

  /** True when `name` is present at all (even empty). */
  has (name: string): boolean {
    return this.#raw[name] !== undefined
  }
}
