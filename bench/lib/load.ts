import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks'

/** What one measured phase produced. */
export interface LoadResult {
  flows: number
  requests: number
  errors: number
  elapsedMs: number
  flowsPerSec: number
  requestsPerSec: number
  p50Ms: number
  p99Ms: number
  firstError?: string
}

/** A phase's result with its latency histogram, so that slices of one scenario can be merged. */
export interface MeasuredPhase extends LoadResult { histogram: RecordableHistogram }

export interface ClosedLoopOptions<S> {
  /** Concurrent virtual users; each runs whole flows back to back (a closed loop). */
  vus: number
  /** Flows before measuring starts (JIT, connection pools, caches); not counted. */
  warmupMs: number
  /** Stop after this long… */
  durationMs?: number
  /** …or after this many requests (the soak). */
  requests?: number
  /** Per-user state: a session cookie, a refresh-token chain. */
  setup: (vu: number) => Promise<S>
  /** One whole flow; answers how many HTTP requests it made. Throws on any unexpected answer. */
  flow: (state: S, vu: number) => Promise<number>
  /** Called once, when the warm-up ends and measuring starts (CPU readings begin there). */
  onMeasure?: () => void
  /** Called four times a second while measuring (progress). */
  onTick?: (progress: { requests: number, elapsedMs: number }) => void
}

/**
 * Runs `vus` virtual users in one event loop, each doing whole flows back to
 * back, and reports flows/s and flow latency. Latency is per whole flow (all
 * of its requests), recorded in an HDR histogram (node:perf_hooks).
 */
export async function closedLoop<S> (options: ClosedLoopOptions<S>): Promise<MeasuredPhase> {
  const states = await Promise.all(Array.from({ length: options.vus }, async (_, vu) => options.setup(vu)))
  const histogram: RecordableHistogram = createHistogram()
  let recording = false
  let stopped = false
  let flows = 0
  let requests = 0
  let errors = 0
  let firstError: string | undefined

  const user = async (vu: number): Promise<void> => {
    const state = states[vu]!
    while (!stopped) {
      const started = performance.now()
      try {
        const made = await options.flow(state, vu)
        if (recording && !stopped) {
          histogram.record(Math.max(1, Math.round((performance.now() - started) * 1e6)))
          flows++
          requests += made
        }
      } catch (err) {
        if (recording) errors++
        firstError ??= (err as Error).message
        // A failing target must not turn the driver into a busy loop.
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
  }

  const users = Array.from({ length: options.vus }, async (_, vu) => user(vu))
  await new Promise((resolve) => setTimeout(resolve, options.warmupMs))
  recording = true
  options.onMeasure?.()
  const started = performance.now()
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsedMs = performance.now() - started
      options.onTick?.({ requests, elapsedMs })
      const done = options.requests !== undefined ? requests >= options.requests : elapsedMs >= (options.durationMs ?? 10_000)
      if (done) {
        clearInterval(tick)
        resolve()
      }
    }, 250)
  })
  const elapsedMs = performance.now() - started
  stopped = true
  await Promise.all(users)
  return {
    flows,
    requests,
    errors,
    elapsedMs,
    flowsPerSec: flows / (elapsedMs / 1000),
    requestsPerSec: requests / (elapsedMs / 1000),
    p50Ms: histogram.count > 0 ? histogram.percentile(50) / 1e6 : NaN,
    p99Ms: histogram.count > 0 ? histogram.percentile(99) / 1e6 : NaN,
    ...(firstError === undefined ? {} : { firstError }),
    histogram,
  }
}
