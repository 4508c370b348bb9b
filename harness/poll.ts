import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Calls `check` until it returns (or resolves) truthy; a check that throws
 * counts as not yet. After `timeoutMs` throws naming `what` and the last
 * error. The one way the harness, the tests and the benchmark wait for
 * something to become true; `signal` stops the wait early.
 */
export async function until (check: () => unknown, timeoutMs: number, what: string, options: { intervalMs?: number, signal?: AbortSignal } = {}): Promise<void> {
  const { intervalMs = 50, signal } = options
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    signal?.throwIfAborted()
    try {
      if (await check()) return
      last = undefined
    } catch (err) {
      last = err
    }
    if (Date.now() >= deadline) break
    // An abort during the pause ends the wait with the signal's own reason.
    await sleep(intervalMs, undefined, signal ? { signal } : undefined).catch(() => signal?.throwIfAborted())
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${last ? `: ${(last as Error).message}` : ''}`)
}
