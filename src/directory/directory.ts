/**
 * The directory: durable identity data for backup login (DESIGN §10). It
 * holds what must outlive every cookie and every Redis: which second
 * identities and which passkeys lead to which `sub`. Sessions, codes and
 * tokens never touch it; only the logins that need it read it, so a
 * directory outage fails those logins alone (static stability).
 *
 * Two backends run the same SQL and migrations: PostgreSQL through `pg`
 * (production, any Postgres-wire engine) and PGlite embedded (the default).
 * Both pass test/directory/conformance.ts.
 */

/** The person a backup method leads to: the gateway `sub` and the primary identity it comes from (subjectFor(provider, upstreamSub) === sub). */
export interface Person {
  sub: string
  /** The provider of the user's first login: the root of their identity. */
  provider: string
  upstreamSub: string
  /** When the directory first recorded this person (seconds since the epoch). */
  createdAt: number
}

/** A second provider's identity that logs the person in (never found by email or any other claim). */
export interface LinkedIdentity {
  sub: string
  provider: string
  upstreamSub: string
  linkedAt: number
}

/** A WebAuthn credential (a passkey) registered by the person. */
export interface Passkey {
  /** The credential id, base64url: unique across the directory. */
  id: string
  sub: string
  /** The COSE public key, as the authenticator gave it. */
  publicKey: Uint8Array
  /** The signature counter last seen (0 for authenticators that keep none). */
  counter: number
  /** Transports the browser reported (usb, internal, hybrid…), to hint the next ceremony. */
  transports: string[]
  /** A name the user can recognise ("Passkey on Chrome, 3 Dec 2026"), editable later. */
  name: string
  /** Whether the credential may be synced across the user's devices (BE flag) and is backed up (BS flag). */
  deviceType: 'singleDevice' | 'multiDevice'
  backedUp: boolean
  createdAt: number
  lastUsedAt?: number
}

/** Everything the directory holds about one person: what /account and the admin API list. */
export interface Identity {
  person: Person
  links: LinkedIdentity[]
  passkeys: Passkey[]
  /** Until when the "add a backup method" offer is not shown again (seconds); absent: never declined. */
  offerDeclinedUntil?: number
}

/** The outcome of linking an identity: done now, already this person's, or already another person's (refused). */
export type LinkResult = 'linked' | 'already-linked' | 'taken'

/**
 * One directory backend. Every method may throw DirectoryUnavailable (an
 * `UnderstudyError` with code `US_ERR_DIRECTORY_UNAVAILABLE`) when the
 * database cannot answer within `directory.timeout`; callers decide what
 * that costs (only the login that needs it fails).
 */
export interface Directory {
  /** Applies the versioned migrations not applied yet (idempotent; safe when several instances start at once). */
  migrate (): Promise<void>

  /** Records the person if new (first backup method); returns the stored record either way. */
  ensurePerson (person: Person): Promise<Person>
  /** Everything about one person, or undefined when the directory has never recorded them. */
  identity (sub: string): Promise<Identity | undefined>
  /** Whether the person has at least one backup method (a link or a passkey): read after each upstream login for the offer. */
  hasBackupMethod (sub: string): Promise<boolean>

  /** A second identity's link and the person it leads to, if it is linked. Reads the replica when one is configured. */
  linkedPerson (provider: string, upstreamSub: string): Promise<{ link: LinkedIdentity, person: Person } | undefined>
  /** Links (provider, upstreamSub) to the person `sub` (who must exist). An identity already linked to another person is refused ('taken'), atomically. */
  link (identity: LinkedIdentity): Promise<LinkResult>
  /** Removes the person's link to `provider`; false when there was none. */
  unlink (sub: string, provider: string): Promise<boolean>

  /** Adds a passkey to the person `sub` (who must exist); a credential id already registered is refused with false. */
  addPasskey (passkey: Passkey): Promise<boolean>
  /** A passkey and the person it belongs to, by credential id. Reads the replica when one is configured. */
  passkey (id: string): Promise<{ passkey: Passkey, person: Person } | undefined>
  /** Records a successful use: the new counter and when. Refuses (false) a counter that does not move forward, atomically, unless both are 0. */
  recordPasskeyUse (id: string, counter: number, at: number): Promise<boolean>
  /** Renames one of the person's passkeys; false when the person has no such passkey. */
  renamePasskey (sub: string, id: string, name: string): Promise<boolean>
  /** Removes one of the person's passkeys; false when the person has no such passkey. */
  removePasskey (sub: string, id: string): Promise<boolean>

  /** The person (who must exist) said "Not now" to the offer: do not offer again before `until` (seconds). */
  declineOffer (sub: string, until: number): Promise<void>

  /** Whether the database answers now (for /healthz and the status page). */
  ping (): Promise<boolean>
  close (): Promise<void>
}
