/** Share of a full map's bound made free at once: choosing what goes costs a sort, paid once per that many writes. */
const ROOM = 0.1

/**
 * A Map of entries that expire, holding at most `bound` of them. When it is
 * full, expired entries go first, then the live ones that would expire
 * soonest. So a flood of short-lived entries (a guard per redeemed code, 60 s)
 * only ever pushes out other short-lived entries, never a week-long logout
 * tombstone while anything shorter-lived is held; the oldest write is not
 * what goes, because the oldest write may be the one that matters longest.
 * Expiry times are on the caller's clock (`clock`), whatever its unit.
 */
export class ExpiringMap<V> {
  readonly #map = new Map<string, V>()
  readonly #bound: number
  readonly #expiryOf: (value: V) => number
  readonly #onEvicted: (count: number) => void

  /** `onEvicted` is told how many live entries had to go each time the bound was reached. */
  constructor (bound: number, expiryOf: (value: V) => number, onEvicted: (count: number) => void) {
    if (!(bound >= 1)) throw new RangeError(`an expiring map needs a bound of at least 1, not ${bound}`)
    this.#bound = bound
    this.#expiryOf = expiryOf
    this.#onEvicted = onEvicted
  }

  get size (): number {
    return this.#map.size
  }

  /** The value under `key` while it has not expired at `clock`; an expired one is dropped. */
  get (key: string, clock: number): V | undefined {
    const value = this.#map.get(key)
    if (value === undefined) return undefined
    if (this.#expiryOf(value) > clock) return value
    this.#map.delete(key)
    return undefined
  }

  set (key: string, value: V, clock: number): void {
    if (this.#map.size >= this.#bound && !this.#map.has(key)) this.#makeRoom(clock)
    this.#map.set(key, value)
  }

  /** Every entry still live at `clock`. */
  * live (clock: number): Generator<[string, V]> {
    for (const entry of this.#map) if (this.#expiryOf(entry[1]) > clock) yield entry
  }

  /** Drops every entry expired at `clock`. */
  sweep (clock: number): void {
    for (const [key, value] of this.#map) if (this.#expiryOf(value) <= clock) this.#map.delete(key)
  }

  clear (): void {
    this.#map.clear()
  }

  #makeRoom (clock: number): void {
    this.sweep(clock)
    const excess = this.#map.size - (this.#bound - Math.max(1, Math.floor(this.#bound * ROOM)))
    if (excess <= 0) return
    const cutoff = Float64Array.from(this.#map.values(), this.#expiryOf).sort()[excess - 1]!
    let evicted = 0
    for (const [key, value] of this.#map) {
      if (evicted === excess) break
      if (this.#expiryOf(value) > cutoff) continue
      this.#map.delete(key)
      evicted++
    }
    this.#onEvicted(evicted)
  }
}
