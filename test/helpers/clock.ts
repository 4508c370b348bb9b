/** A gateway clock a test moves (`startStack({ now })`, seconds since the epoch, like the gateway's). */
export interface TestClock {
  now: () => number
  /** Moves the clock by `seconds` (negative: back). */
  advance: (seconds: number) => void
}

/**
 * The real time plus an offset the test moves, starting `offset` seconds off:
 * a session, a code or a rate-limit window grows old at once instead of
 * after a sleep, while everything else (breakers, sockets) keeps real time.
 */
export function testClock (offset = 0): TestClock {
  return {
    now: () => Math.floor(Date.now() / 1000) + offset,
    advance: (seconds) => { offset += seconds },
  }
}
