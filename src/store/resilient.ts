import type { Logger } from '../log.js'
import { RevocationFailOpen } from './fail-open.js'
import type { GuardedStore } from './guarded.js'
import type { MemoryStore } from './memory.js'
import type { Peer } from './peer.js'
import type { RedisStore } from './redis.js'
import type { SharedDocuments, Store, StoreHealth, TombstoneKind, Versioned } from './store.js'
import { applyWrite, expiresIn, later, type Write } from './write.js'

/** Writes replayed into the local Redis at once when it returns. */
const REPLAY_BATCH = 256
/** Stream entries the local Redis did not take, kept to append when it returns (the oldest dropped past this). */
const HELD_APPENDS = 1_000

export interface ResilientStoreParts {
  /** This region's Redis, behind its breaker. */
  local: GuardedStore
  /** The in-process store: mirrors every write of this instance and stands in while Redis is down. */
  memory: MemoryStore
  /** Other regions' Redis. */
  peers: Peer[]
  failOpen: RevocationFailOpen
  log: Logger
}

/**
 * The store of a gateway with `store.kind: redis`: the local Redis, the
 * in-process store and the peers, layered so that losing any of them (or
 * all) logs nobody out and nothing revoked comes back to life.
 *
 * - Every write goes to the in-process store and the local Redis (awaited),
 *   and tombstones, rotations and latest values to every peer (a tombstone
 *   awaited, the others queued in the background).
 * - Single-use guards (an upstream `state`) answer from the local Redis
 *   (asked once past an open breaker), or from the in-process guard while it
 *   is down (then a replay can only be caught on this instance).
 * - Revocation reads: in-process, then local, then peers on a miss or error;
 *   when nothing answers, fail open (see RevocationFailOpen).
 * - Single-use decisions that must hold across regions (a code's use, a
 *   refresh token's rotation) are also made in every peer, atomically, so two
 *   regions, or two instances of one region of which one is without its Redis,
 *   meet there: a code in the local Redis first, then in the peers; a rotation
 *   in the local Redis, the peers and the process at once, a reuse if any says so.
 * - Latest values: the later of the in-process one and the local Redis's, or,
 *   while it is down, of the in-process one and the peers'.
 * - When the local Redis answers again, everything the in-process store holds
 *   is written back to it (all writes converge), so a Redis that restarted
 *   empty learns again what it lost; then the shared documents and stream
 *   entries written here while it was down (a document unless it was changed
 *   through another instance meanwhile: see `shared`).
 */
export class ResilientStore implements Store {
  readonly name = 'redis'
  readonly #local: GuardedStore
  readonly #memory: MemoryStore
  readonly #peers: Peer[]
  readonly #failOpen: RevocationFailOpen
  readonly #log: Logger
  #replaying: Promise<void> | undefined
  #replayAgain = false
  readonly #sameServerReported = new Set<string>()

  constructor (parts: ResilientStoreParts) {
    this.#local = parts.local
    this.#memory = parts.memory
    this.#peers = parts.peers
    this.#failOpen = parts.failOpen
    this.#log = parts.log
    this.#local.onUp(() => { this.#replayOnce() })
  }

  async claimOnce (key: string, ttlSec: number): Promise<boolean> {
    if (!(await this.#memory.claimOnce(key, ttlSec))) return false
    // Asked once past an open breaker, as codes are; when the local Redis does not answer, the
    // in-process claim stands (it is written back to Redis when Redis returns).
    return await this.#localOrLastTry((s) => s.claimOnce(key, ttlSec)) ?? true
  }

  async revoke (id: string, ttlSec: number, kind?: TombstoneKind): Promise<void> {
    await this.#memory.revoke(id, ttlSec, kind)
    const write: Write = { op: 'revoke', id, expiresAt: expiresIn(ttlSec) }
    // Written to the local Redis and the peers at once, and waited for: a process killed right after a
    // logout or /revoke answered must not take the only copy beyond its own Redis with it (the peers' queue
    // is in process), or the other region accepts the revoked token. A peer that is down or fails gets the
    // write queued as before; a failed local write is not an error either: the tombstone is held in process
    // and replayed when Redis returns.
    await Promise.all([
      this.#local.call((s) => s.revoke(id, ttlSec)).catch(() => undefined),
      ...this.#peers.map((peer) => peer.deliver(write)),
    ])
  }

  async isRevoked (id: string): Promise<boolean> {
    return this.anyRevoked([id])
  }

  async anyRevoked (ids: readonly string[]): Promise<boolean> {
    if (ids.length === 0) return false
    if (await this.#memory.anyRevoked(ids)) return true
    // A breaker opens on one failed command, and a single slow one is enough. While the local breaker is
    // open, it and every peer whose breaker is open too are asked once past it, alongside the others: if
    // no store answers through its breaker, those answers stand instead of a fail-open, so a revoked token
    // is refused unless the stores are really down (the local Redis dead and a peer slow under load, say).
    const retries = this.#local.available
      ? []
      : [this.#local, ...this.#peers.map((peer) => peer.guard)].filter((guard) => !guard.available).map((guard) => guard.lastTry((s) => s.anyRevoked(ids)))
    const local = await this.#local.call((s) => s.anyRevoked(ids)).catch(() => undefined)
    if (local === true) return true
    const skipped = this.#peers.filter((peer) => !peer.guard.available)
    const fromPeers = await Promise.all(this.#peers.map((peer) => peer.read((s) => s.anyRevoked(ids))))
    if (fromPeers.includes(true)) return true
    if (local === false || fromPeers.includes(false)) {
      // A miss here is read from the peers too, for a revocation not yet delivered (or a local Redis that
      // restarted empty). A peer skipped because its breaker was open (one slow read under load is enough)
      // is asked once past it, within the bounds above, before the miss stands; a peer whose read just
      // timed out in this check has had its chance.
      if (local === false && skipped.length > 0) {
        const again = await Promise.all(skipped.map((peer) => peer.guard.lastTry((s) => s.anyRevoked(ids))))
        if (again.includes(true)) return true
      }
      this.#failOpen.answered()
      return false
    }
    const retried = await Promise.all(retries)
    if (retried.includes(true)) return true
    if (retried.includes(false)) {
      this.#failOpen.answered()
      return false
    }
    return this.#failOpen.notRevoked()
  }

  /**
   * The guard is the local Redis's (while it is down, this instance's); then each peer decides too,
   * atomically (its own single-use guard, so whoever used `id` first there, from any region, wins).
   * Written here before the peers are asked, two regions racing for one id cannot both miss the
   * other's use unless a peer fails to answer; and two instances of one region deciding without the
   * local Redis (one lost its connection, the other's breaker is open) meet in the peers.
   */
  async revokeOnce (id: string, ttlSec: number): Promise<boolean> {
    if (!(await this.#memory.revokeOnce(id, ttlSec))) return false
    const local = await this.#localOrLastTry((s) => s.revokeOnce(id, ttlSec))
    if (local === false) return false
    const atPeers = await this.#decideAtPeers((s) => s.revokeOnce(id, ttlSec), { op: 'revoke', id, expiresAt: expiresIn(ttlSec) })
    if (atPeers.includes(false)) return false
    // As a revocation check: with neither the local Redis nor a peer answering, the in-process guard stands (fail open, counted).
    if (local === true || atPeers.includes(true)) this.#failOpen.answered()
    else this.#failOpen.notRevoked()
    return true
  }

  /**
   * Decided at once in the local Redis (through its breaker, or once past it while it is open), in
   * each peer (atomically) and in process; any of them that saw the family move past `generation`
   * makes it a reuse. So an instance deciding with the local Redis and one deciding without it (its
   * connection lost, its try past the breaker failed) meet in the peers, whose copy of a rotation
   * would otherwise be a queued write that may not have arrived; and a local Redis that restarted
   * empty, or a process that never saw the family, cannot make a used token current while another
   * store remembers. A refresh waits for the farthest peer, as its revocation check already does.
   */
  async rotateFamily (familyId: string, generation: number, ttlSec: number): Promise<'rotated' | 'reused'> {
    const rotate = (s: RedisStore) => s.rotateFamily(familyId, generation, ttlSec)
    const decided = await Promise.all([
      this.#memory.rotateFamily(familyId, generation, ttlSec),
      this.#localOrLastTry(rotate),
      this.#decideAtPeers(rotate, { op: 'rotate', familyId, generation, expiresAt: expiresIn(ttlSec) }),
    ])
    return decided[0] === 'reused' || decided[1] === 'reused' || decided[2].includes('reused') ? 'reused' : 'rotated'
  }

  /**
   * The furthest generation this instance, the local Redis or a peer has
   * seen: families only move forward, so the highest is the current one.
   * Stores that cannot answer are left out (at worst a rotated-away token
   * reads as current: introspection fails open, as revocation checks do).
   */
  async familyGeneration (familyId: string): Promise<number | undefined> {
    const [here, local, ...fromPeers] = await Promise.all([
      this.#memory.familyGeneration(familyId),
      this.#local.call((s) => s.familyGeneration(familyId)).catch(() => undefined),
      ...this.#peers.map((peer) => peer.read((s) => s.familyGeneration(familyId))),
    ])
    const known = [here, local, ...fromPeers].filter((g) => g !== undefined)
    return known.length === 0 ? undefined : Math.max(...known)
  }

  async keepLatest (key: string, value: string, version: number, ttlSec: number): Promise<void> {
    await this.#memory.keepLatest(key, value, version, ttlSec)
    this.#toPeers({ op: 'latest', key, value, version, expiresAt: expiresIn(ttlSec) })
    await this.#local.call((s) => s.keepLatest(key, value, version, ttlSec)).catch(() => undefined)
  }

  async latest (key: string): Promise<Versioned | undefined> {
    const here = await this.#memory.latest(key)
    try {
      return later(here, await this.#local.call((s) => s.latest(key)))
    } catch {
      const fromPeers = await Promise.all(this.#peers.map((peer) => peer.read((s) => s.latest(key))))
      return fromPeers.reduce(later, here)
    }
  }

  /**
   * The local Redis's documents and streams; while it is down, the in-process ones (so a restart of Redis
   * loses nothing this instance knows). Reads and writes refused by an open local breaker try once past it (`lastTry`):
   * a document written while one slow command had opened the breaker (a breaker policy an operator set
   * through the admin API, say) would otherwise stay in this process, and the fleet would never see it.
   * A write the local Redis did not take at all (it was down) is held: this instance reads its own
   * copy of that document, not the older one Redis still has, and when Redis answers again the held
   * documents, deletions and stream entries are written back, so the other instances see them too;
   * a document only if nobody changed it in Redis meanwhile (compared with what this instance last
   * saw there): a newer change made through another instance stands, and the held one is dropped, logged.
   */
  readonly shared: SharedDocuments = {
    get: async (key) => {
      if (this.#held.has(key)) return this.#memory.shared.get(key)
      const found = await this.#localPastBreaker(async (s) => ({ value: await s.shared.get(key) }))
      if (found) this.#seen.set(key, found.value)
      return found?.value ?? this.#memory.shared.get(key)
    },
    set: async (key, value, ttlSec) => {
      await this.#memory.shared.set(key, value, ttlSec)
      const taken = await this.#localPastBreaker(async (s) => await s.shared.set(key, value, ttlSec))
      this.#shared(key, value, taken)
      return taken === true
    },
    delete: async (key) => {
      await this.#memory.shared.delete(key)
      this.#shared(key, undefined, await this.#localPastBreaker(async (s) => { await s.shared.delete(key); return true }))
    },
    append: async (stream, value, maxLength) => {
      await this.#memory.shared.append(stream, value, maxLength)
      const taken = await this.#localPastBreaker(async (s) => { await s.shared.append(stream, value, maxLength); return true })
      if (taken) return
      this.#heldAppends.push({ stream, value, maxLength })
      if (this.#heldAppends.length > HELD_APPENDS) this.#heldAppends.shift()
    },
    tail: async (stream, limit) => await this.#localPastBreaker((s) => s.shared.tail(stream, limit)) ?? this.#memory.shared.tail(stream, limit),
  }

  /** Each document's value as this instance last saw it in the local Redis (undefined: absent): what a held write was based on. */
  readonly #seen = new Map<string, string | undefined>()
  /** Documents written (or deleted: `value` undefined) here that the local Redis did not take, with what Redis held before as far as this instance knew. */
  readonly #held = new Map<string, { expected: string | undefined, readonly deleted: boolean }>()
  readonly #heldAppends: Array<{ stream: string, value: string, maxLength: number }> = []

  /** After a document write: taken by the local Redis (now seen there), or held for the write-back. */
  #shared (key: string, value: string | undefined, taken: boolean | undefined): void {
    if (taken) {
      this.#held.delete(key)
      this.#seen.set(key, value)
      return
    }
    const expected = this.#held.has(key) ? this.#held.get(key)!.expected : this.#seen.get(key)
    this.#held.set(key, { expected, deleted: value === undefined })
  }

  /**
   * The held documents, each replaced in the local Redis only if it still holds what this instance last
   * saw there, then the held stream entries in order. What fails stays held for the next return.
   */
  async #writeBackDocuments (): Promise<void> {
    for (const [key, held] of [...this.#held]) {
      const value = held.deleted ? undefined : await this.#memory.shared.get(key)
      // A document that expired while held has nothing left to write back.
      if (!held.deleted && value === undefined) {
        this.#held.delete(key)
        continue
      }
      const ttlSec = value === undefined ? undefined : this.#memory.shared.ttlSec(key)
      const replaced = await this.#local.call((s) => s.replaceDocument(key, held.expected, value, ttlSec)).catch(() => undefined)
      if (replaced === undefined) return
      if (replaced) this.#seen.set(key, value)
      const now = this.#held.get(key)
      // Written again meanwhile: taken (that write counts), or held anew, on what Redis holds now.
      if (now !== held) {
        if (now !== undefined && replaced) now.expected = value
        continue
      }
      this.#held.delete(key)
      if (!replaced) this.#log.warn({ key }, 'a document written here while the local store was down was changed through another instance meanwhile: that change stands, this one is dropped')
    }
    const appends = this.#heldAppends.splice(0)
    // Sent in order on one connection, so the stream keeps their order.
    const results = await Promise.allSettled(appends.map(({ stream, value, maxLength }) => this.#local.call((s) => s.shared.append(stream, value, maxLength))))
    this.#heldAppends.unshift(...appends.filter((_append, i) => results[i]!.status === 'rejected'))
  }

  /** `operation` on the local Redis, or once past its breaker when that refused it; undefined when neither answered. */
  async #localPastBreaker<T> (operation: (store: RedisStore) => Promise<T>): Promise<T | undefined> {
    return this.#local.call(operation).catch(() => this.#local.lastTry(operation))
  }

  /**
   * A single-use decision (`claimOnce`, `revokeOnce`, `rotateFamily`) in the local Redis: through its breaker, or,
   * while the breaker is open, once past it (`lastTry` for decisions: at most 16 at a time, none for the
   * reset timeout after one failed, apart from the revocation checks' tries). One slow command opens the breaker of each instance that
   * saw it, and two instances deciding in their own processes would each accept the same code or refresh
   * token once. Undefined when the local Redis did not answer: the caller falls back to the peers and the
   * in-process store, so losing Redis logs nobody out. A command that fails through a closed breaker is
   * not tried again: the request has already waited its command timeout.
   */
  async #localOrLastTry<T> (operation: (store: RedisStore) => Promise<T>): Promise<T | undefined> {
    if (!this.#local.available) return await this.#local.lastTry(operation, 'decision')
    return await this.#local.call(operation).catch(() => undefined)
  }

  async ping (): Promise<void> {
    await this.#local.call((s) => s.ping())
  }

  async health (): Promise<StoreHealth> {
    const [local, ...peers] = await Promise.all([this.#local.check(), ...this.#peers.map((p) => p.guard.check())])
    return { status: local!, peers: Object.fromEntries(this.#peers.map((p, i) => [p.endpoint, peers[i]!])) }
  }

  async close (): Promise<void> {
    await Promise.allSettled([this.#local.close(), ...this.#peers.map((p) => p.close())])
    await this.#memory.close()
  }

  /**
   * A single-use decision in every peer at once: through its breaker, or, while that is open (one slow
   * read opens it for a second), once past it, within the bounds of `lastTry` for decisions. Each answer, undefined
   * where a peer did not answer; those peers get `write` queued, so that they learn of it when they return.
   */
  async #decideAtPeers<T> (operation: (store: RedisStore) => Promise<T>, write: Write): Promise<Array<T | undefined>> {
    const deciding = this.#peers.map((peer, i) => !this.#sameServer(peer, i))
    const answers = await Promise.all(this.#peers.map((peer, i) => !deciding[i] ? undefined : peer.guard.available ? peer.read(operation) : peer.guard.lastTry(operation, 'decision')))
    this.#peers.forEach((peer, i) => { if (answers[i] === undefined && deciding[i]) peer.send(write) })
    return answers
  }

  /**
   * True when peer `i` turns out to be the same Redis server (its `run_id`) as this region's or an
   * earlier peer's, under another address: the config check compares addresses only. Its single-use
   * decisions would answer every first use, already made there, as a replay (every code refused,
   * every refresh a reuse), so it is left out of them, and an error says so once.
   */
  #sameServer (peer: Peer, i: number): boolean {
    const id = peer.guard.store.serverId
    if (id === undefined) return false
    const same = id === this.#local.store.serverId || this.#peers.slice(0, i).some((other) => other.guard.store.serverId === id)
    if (same && !this.#sameServerReported.has(peer.endpoint)) {
      this.#sameServerReported.add(peer.endpoint)
      this.#log.error({ peer: peer.endpoint }, 'a peer is the same Redis server as this region\'s own or an earlier peer (same run_id), under another address: left out of single-use decisions; fix store.redis.peers')
    }
    return same
  }

  #toPeers (write: Write): void {
    for (const peer of this.#peers) peer.send(write)
  }

  /** Runs the replay, one at a time: a return and a restart noticed together replay once, then once more. */
  #replayOnce (): void {
    if (this.#replaying) {
      this.#replayAgain = true
      return
    }
    this.#replaying = this.#replay().catch((err: unknown) => { this.#log.error({ err }, 'writing back to the local store failed') }).finally(() => {
      this.#replaying = undefined
      if (!this.#replayAgain) return
      this.#replayAgain = false
      this.#replayOnce()
    })
  }

  async #replay (): Promise<void> {
    const writes = [...this.#memory.records()]
    let replayed = 0
    for (let i = 0; i < writes.length; i += REPLAY_BATCH) {
      const batch = writes.slice(i, i + REPLAY_BATCH)
      const results = await Promise.allSettled(batch.map((write) => this.#local.call((s) => applyWrite(s, write))))
      replayed += results.filter((r) => r.status === 'fulfilled').length
      // Down again: the next return replays everything once more (writes converge).
      if (replayed < i + batch.length) break
    }
    if (writes.length > 0) this.#log.info({ replayed, held: writes.length }, 'in-process guards, tombstones and rotations written back to the local store')
    // After the tombstones, which the other instances of the region need first.
    const documents = this.#held.size + this.#heldAppends.length
    await this.#writeBackDocuments()
    if (documents > 0) this.#log.info({ held: documents, left: this.#held.size + this.#heldAppends.length }, 'documents and stream entries written while the local store was down written back to it')
    await this.#resyncFromPeers()
  }

  /**
   * A local Redis that restarted empty also lost what only other processes
   * wrote or knew: the peers' writes, and this region's own from before this
   * process started. Each reachable peer's keys are copied back (writes
   * converge), so one more failure later cannot leave a tombstone nowhere.
   */
  async #resyncFromPeers (): Promise<void> {
    for (const peer of this.#peers) {
      if (!peer.guard.available) continue
      let copied = 0
      try {
        let batch: Write[] = []
        const flush = async () => {
          await Promise.all(batch.map((write) => this.#local.call((s) => applyWrite(s, write))))
          copied += batch.length
          batch = []
        }
        for await (const write of peer.guard.store.records()) {
          batch.push(write)
          if (batch.length >= REPLAY_BATCH) await flush()
        }
        await flush()
        this.#log.info({ peer: peer.endpoint, copied }, 'local store resynchronised from a peer')
      } catch (err) {
        this.#log.warn({ err, peer: peer.endpoint, copied }, 'could not resynchronise the local store from a peer; the next return of the local store tries again')
      }
    }
  }
}
