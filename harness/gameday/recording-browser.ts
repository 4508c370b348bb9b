import { request, type Dispatcher } from 'undici'
import { Browser, type BrowserResponse, type WireAnswer, type WireRequest } from '../browser.js'

/** One HTTP exchange as the game day records it. */
export interface HttpSample {
  /** When the request started (ms since the epoch). */
  at: number
  ms: number
  /** `gateway` (through the load balancer) or `upstream:<region>`. */
  target: string
  method: string
  path: string
  status?: number
  /** The network error, when there was no answer. */
  error?: string
  /** Which gateway region answered (the load balancer says). */
  backend?: string
  /** The request was dropped by a region after it may have been sent (and answered by the next). */
  dropped?: string
  /** The OAuth `error` of a 5xx JSON answer (`temporarily_unavailable`): which refusal it was. */
  refusal?: string
}

/** Thrown when a request got no HTTP answer at all. */
export class NoAnswerError extends Error {
  readonly target: string
  readonly code: string
  constructor (target: string, code: string) {
    super(`no answer from ${target}: ${code}`)
    this.target = target
    this.code = code
  }
}

export interface RecordingBrowserDeps {
  dispatcher: Dispatcher
  /** Names the far end of a URL for the samples (`gateway`, `upstream:primary`, ...). */
  targetOf: (url: URL) => string
  record: (sample: HttpSample) => void
  timeoutMs: number
}

/** The gateway region that answered, as the load balancer names it. */
export function answeringBackend (answer: BrowserResponse): string | undefined {
  return answer.headers.get('x-gameday-backend') ?? undefined
}

/**
 * The browser of a synthetic user: the shared one, sending through the game
 * day's dispatcher with a bounded wait for every answer, and recording every
 * exchange with its latency and outcome. `fetch` throws NoAnswerError when
 * nothing answered in time.
 */
export class RecordingBrowser extends Browser {
  readonly #deps: RecordingBrowserDeps
  /** Requests of this browser that a gateway process dropped when it died (see the load balancer). */
  dropped = 0

  constructor (deps: RecordingBrowserDeps) {
    super()
    this.#deps = deps
  }

  protected override async send (url: URL, init: WireRequest): Promise<WireAnswer> {
    const sample: HttpSample = { at: Date.now(), ms: 0, target: this.#deps.targetOf(url), method: init.method, path: url.pathname }
    try {
      const answer = await request(url, {
        method: init.method as Dispatcher.HttpMethod,
        headers: init.headers,
        ...(init.body === undefined ? {} : { body: init.body }),
        dispatcher: this.#deps.dispatcher,
        headersTimeout: this.#deps.timeoutMs,
        bodyTimeout: this.#deps.timeoutMs,
      })
      const text = await answer.body.text()
      const headers = headersOf(answer.headers)
      sample.status = answer.statusCode
      const backend = headers.get('x-gameday-backend')
      const dropped = headers.get('x-gameday-dropped')
      if (backend) sample.backend = backend
      const refusal = answer.statusCode >= 500 ? refusalOf(text) : undefined
      if (refusal) sample.refusal = refusal
      if (dropped) {
        sample.dropped = dropped
        this.dropped++
      }
      return { status: answer.statusCode, headers, text }
    } catch (err) {
      sample.error = (err as { code?: string }).code ?? (err as Error).name
      throw new NoAnswerError(sample.target, sample.error)
    } finally {
      sample.ms = Date.now() - sample.at
      this.#deps.record(sample)
    }
  }
}

/** undici's header record as the platform's Headers (repeated headers such as Set-Cookie kept apart). */
function headersOf (record: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(record)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one)
  }
  return headers
}

/** The `error` of a JSON error body, if the text is one. */
function refusalOf (text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: unknown }
    return typeof body.error === 'string' ? body.error : undefined
  } catch {
    return undefined
  }
}
