/** A gateway clock a test moves (`startStack({ now })`, seconds since the epoch, like the gateway's). */
export interface TestClock {
  now: () => number
  /** Moves the clock by `seconds` (negative: back). */
  advance: (seconds: number) => void
  /**
   * Stops the clock at its reading until the returned function starts it
   * again: for a check of the last second before a deadline, which a real
   * second ending in between would otherwise move past.
   */
  freeze: () => () => void
}

/**
 * The real time plus an offset the test moves, starting `offset` seconds off:
 * a session, a code or a rate-limit window grows old at once instead of
 * after a sleep, while everything else (breakers, sockets) keeps real time.
 */
export function testClock (offset = 0): TestClock {
  const real = () => Math.floor(Date.now() / 1000) + offset
  let frozenAt: number | undefined
  return {
    now: () => frozenAt ?? real(),
    advance: (seconds) => {
      offset += seconds
      if (frozenAt !== undefined) frozenAt += seconds
    },
    freeze: () => {
      frozenAt = real()
      return () => { frozenAt = undefined }
    },
  }
}
