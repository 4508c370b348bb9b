import type { RecordingBrowser } from './recording-browser.js'
import type { RelyingParty } from './setup.js'

/** What a relying party holds for a user: the latest refresh token and ID token. */
export interface Grant { refreshToken: string, idToken: string }

/** A synthetic user: a browser (with the gateway session cookie) and the grants of the relying parties. */
export interface SyntheticUser {
  name: string
  browser: RecordingBrowser
  sub: string
  grants: Map<string, Grant>
  /** An operation of this user is in flight: one at a time, as a rotating refresh token demands. */
  busy: boolean
}

/** A credential that was revoked on purpose and must never work again. */
export type RevokedCredential =
  | { kind: 'revoked-refresh', user: string, rp: RelyingParty, refreshToken: string, sub: string }
  | { kind: 'logged-out-session', user: string, cookie: string }
  | { kind: 'logged-out-refresh', user: string, rp: RelyingParty, refreshToken: string, sub: string }

/** The returning users the load driver picks from; bounded, so memory stays flat over a long run. */
export class UserPool {
  readonly #users: SyntheticUser[] = []
  readonly #limit: number

  constructor (limit: number) {
    this.#limit = limit
  }

  get size (): number {
    return this.#users.length
  }

  /** Adds a user who just logged in; when full, the user is not kept (the pool stays a sample). */
  add (user: SyntheticUser): void {
    if (this.#users.length < this.#limit) this.#users.push(user)
  }

  /** Takes the user out of the pool (revoked, logged out, or lost). */
  remove (user: SyntheticUser): void {
    const i = this.#users.indexOf(user)
    if (i >= 0) this.#users.splice(i, 1)
  }

  /** A random user with no operation in flight, or undefined. */
  pickIdle (accept: (user: SyntheticUser) => boolean = () => true): SyntheticUser | undefined {
    const idle = this.#users.filter((u) => !u.busy && accept(u))
    return idle[Math.floor(Math.random() * idle.length)]
  }
}

/** A random element. */
export function pick<T> (items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!
}
