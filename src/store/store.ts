/**
 * What gateway instances must share: single-use guards, revocation tombstones,
 * refresh-token families, and each user's current upstream refresh token
 * (sealed). Sessions, codes and refresh tokens themselves travel sealed, so a
 * store never holds a login; losing it logs nobody out. Every implementation
 * passes `test/store/conformance.ts`.
 *
 * The stores the gateway uses (`createStore`: MemoryStore, or ResilientStore
 * over Redis) never reject, except `ping`: Redis failures are handled below
 * this interface, where the in-process records answer and revocation checks
 * fail open (RevocationFailOpen), logged and counted there. Callers therefore
 * take every answer as it comes and add no fallbacks of their own.
 */
export interface Store {
  /** A short name for logs and metrics (`memory`, `redis`). */
  readonly name: string
  /** Atomically claims a single-use key: true the first time, false on every later call within `ttlSec`. */
  claimOnce (key: string, ttlSec: number): Promise<boolean>
  /**
   * Records a revocation tombstone for `id` (a grant, family, session, token or backup method id) for `ttlSec`.
   * A bounded store keeps `session` tombstones (logouts) apart from the rest, so no flood of the others evicts one.
   */
  revoke (id: string, ttlSec: number, kind?: TombstoneKind): Promise<void>
  /** True when a tombstone for `id` exists. */
  isRevoked (id: string): Promise<boolean>
  /** True when a tombstone exists for any of `ids`, asked in one lookup (false for none). */
  anyRevoked (ids: readonly string[]): Promise<boolean>
  /**
   * Records a tombstone for `id` for `ttlSec` unless there is one already: true when this call
   * made it, false when `id` was tombstoned before (here or, for a store with peers, in a peer).
   * A single-use guard that other regions see as a tombstone (a code's redemption), in one atomic
   * write. Unlike `claimOnce`, a tombstone written by `revoke` counts as a use; so does a claim of
   * `id` (`claimOnce`, how versions before this one guarded a code), and the Redis store keeps that
   * claim in step, so that old and new instances side by side in a rolling upgrade agree.
   */
  revokeOnce (id: string, ttlSec: number): Promise<boolean>
  /**
   * Moves a refresh family from `generation` to `generation + 1`. Answers
   * `rotated` when `generation` is the family's current one (or the family is
   * unknown or behind here, as after a restart), and `reused` when the family
   * has already moved past it: an old refresh token was replayed. Families
   * only move forward, so rotations replayed to another store converge.
   */
  rotateFamily (familyId: string, generation: number, ttlSec: number): Promise<'rotated' | 'reused'>
  /**
   * The generation of a family's current refresh token (the one the next
   * rotation expects), or undefined when the family is unknown here. A
   * refresh token of an older generation has been rotated away (introspection).
   */
  familyGeneration (familyId: string): Promise<number | undefined>
  /**
   * Keeps `value` under `key` unless the store already holds a later
   * `version` (a non-negative integer; on a tie the greater value stays, so
   * copies converge in any order). Replicated to peers like a rotation: the current upstream refresh
   * token of a user, sealed, lives here (`src/oidc/upstream-grant.ts`), and each region's sequence of
   * outage changes, which numbers the webhook events (`src/notify/event-id.ts`).
   */
  keepLatest (key: string, value: string, version: number, ttlSec: number): Promise<void>
  /** The value kept under `key` and its version, or undefined when there is none. */
  latest (key: string): Promise<Versioned | undefined>
  /** Resolves when the store answers; rejects when it cannot be reached. */
  ping (): Promise<void>
  /** Reachability of the store and of each peer, for `/healthz`; stores without peers may omit it. */
  health? (): Promise<StoreHealth>
  /** Small documents and event streams this store shares between instances (not replicated to peers). */
  readonly shared: SharedDocuments
  /** Releases connections and timers. */
  close (): Promise<void>
}

/**
 * What instances of one region share besides guards and tombstones: upstream
 * metadata kept for a pod that starts during an outage, live breaker policy
 * overrides, the incident event stream. Best effort: callers keep working
 * (from memory) when it cannot answer.
 */
export interface SharedDocuments {
  get (key: string): Promise<string | undefined>
  /**
   * Stores `value` under `key`, for `ttlSec` when given. True once every instance sharing the store can
   * read it; false when only this instance holds it until the store answers again (then it is written back).
   */
  set (key: string, value: string, ttlSec?: number): Promise<boolean>
  delete (key: string): Promise<void>
  /** Appends to a capped stream (the oldest entries drop out past `maxLength`). */
  append (stream: string, value: string, maxLength: number): Promise<void>
  /** The last `limit` entries of a stream, oldest first. */
  tail (stream: string, limit: number): Promise<string[]>
}

/** What a tombstone ends: gateway sessions (a logout, a removed backup method), or a token, code or grant. */
export type TombstoneKind = 'session' | 'token'

/** A value that only moves forward: the later `version` wins (`later` in write.ts). */
export interface Versioned { value: string, version: number }

/** The `/healthz` store section. */
export interface StoreHealth {
  status: 'ok' | 'unreachable'
  peers?: Record<string, 'ok' | 'unreachable'>
}
