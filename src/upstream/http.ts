import { Agent, request, type Dispatcher } from 'undici'
import { UnderstudyError, type ErrorCode } from '../errors.js'

/** The largest upstream response body we read; discovery, JWKS, tokens and userinfo are all far smaller. */
export const UPSTREAM_MAX_BODY_BYTES = 1024 * 1024

// Backstops only: every call also carries its own AbortSignal deadline, which is usually much shorter.
const agent = new Agent({
  connect: { timeout: 10_000 },
  headersTimeout: 15_000,
  bodyTimeout: 15_000,
  keepAliveTimeout: 4_000,
  maxResponseSize: UPSTREAM_MAX_BODY_BYTES,
})

/** One outbound upstream call. */
export interface UpstreamRequest {
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  /** Sent as `application/x-www-form-urlencoded`; undefined values are left out. */
  form?: Record<string, string | undefined>
  /** An access token sent as `Authorization: Bearer`. */
  bearer?: string
  /** The caller's signal (a breaker timeout); combined with `timeoutMs`. */
  signal?: AbortSignal
  /** This call's own deadline. */
  timeoutMs: number
  /** What the call is for (`discovery`, `jwks`, `token`, `userinfo`, `probe`): named in errors and metrics. */
  operation: string
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

/**
 * Calls an upstream endpoint and returns its JSON object body. Failures become
 * UnderstudyErrors: TIMEOUT, NETWORK, OAUTH (a 4xx but 429 with an OAuth `error`),
 * HTTP (any other non-2xx; `details.status`), INVALID (not a JSON object, or too large).
 */
export async function upstreamJson (url: string, options: UpstreamRequest): Promise<Record<string, unknown>> {
  const { status, body } = await send(url, options, async (stream) => stream.text())
  const json = parseJson(body)
  if (status < 200 || status >= 300) throw statusError(status, json, url, options.operation)
  if (!isObject(json)) throw upstreamError('US_ERR_UPSTREAM_INVALID', `upstream ${options.operation} at ${safeUrl(url)} did not answer with a JSON object`, url, options.operation, { status })
  return json
}

/** Checks that an upstream endpoint answers below 500 in time (a health probe); returns the status. */
export async function upstreamProbe (url: string, options: Omit<UpstreamRequest, 'form' | 'bearer' | 'method'>): Promise<number> {
  const { status } = await send(url, options, async (stream) => stream.dump())
  if (status >= 500) throw statusError(status, undefined, url, options.operation)
  return status
}

/** A URL as it may appear in errors and logs: origin and path only, never the query (codes, tokens). */
export function safeUrl (url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return '(invalid url)'
  }
}

async function send<T> (url: string, options: UpstreamRequest, read: (body: Dispatcher.ResponseData['body']) => Promise<T>): Promise<{ status: number, body: T }> {
  const deadline = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'understudy', ...options.headers }
  let payload: string | undefined
  if (options.form) {
    const form = new URLSearchParams()
    for (const [key, value] of Object.entries(options.form)) if (value !== undefined) form.set(key, value)
    payload = form.toString()
    headers['content-type'] = 'application/x-www-form-urlencoded'
  }
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`
  try {
    const response = await request(url, { dispatcher: agent, method: options.method ?? (payload === undefined ? 'GET' : 'POST'), headers, body: payload, signal })
    return { status: response.statusCode, body: await read(response.body) }
  } catch (err) {
    throw transportError(err, url, options, signal)
  }
}

function transportError (err: unknown, url: string, options: UpstreamRequest, signal: AbortSignal): UnderstudyError {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  const { operation, timeoutMs } = options
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
    return upstreamError('US_ERR_UPSTREAM_INVALID', `upstream ${operation} at ${safeUrl(url)} answered with more than ${UPSTREAM_MAX_BODY_BYTES} bytes`, url, operation, {}, err)
  }
  if (signal.aborted || (typeof code === 'string' && TIMEOUT_CODES.has(code))) {
    // An abort by the caller is its deadline (a breaker timeout) running out, so it is a timeout too.
    const by = options.signal?.aborted === true ? 'the caller' : `${timeoutMs} ms`
    return upstreamError('US_ERR_UPSTREAM_TIMEOUT', `upstream ${operation} at ${safeUrl(url)} timed out (${by})`, url, operation, { timeoutMs }, err)
  }
  const reason = typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown'
  return upstreamError('US_ERR_UPSTREAM_NETWORK', `upstream ${operation} at ${safeUrl(url)} failed: ${reason}`, url, operation, { reason }, err)
}

// A 429 stays an HTTP error whatever its body: it says the upstream is overloaded, not that our request was wrong.
function statusError (status: number, json: unknown, url: string, operation: string): UnderstudyError {
  if (status >= 400 && status < 500 && status !== 429 && isObject(json) && typeof json.error === 'string') {
    const description = typeof json.error_description === 'string' ? json.error_description : undefined
    return upstreamError('US_ERR_UPSTREAM_OAUTH', `upstream ${operation} at ${safeUrl(url)} answered ${status} ${json.error.slice(0, 64)}`, url, operation, { status, error: json.error, error_description: description })
  }
  return upstreamError('US_ERR_UPSTREAM_HTTP', `upstream ${operation} at ${safeUrl(url)} answered ${status}`, url, operation, { status })
}

function upstreamError (code: ErrorCode, message: string, url: string, operation: string, details: Record<string, unknown>, cause?: unknown): UnderstudyError {
  return new UnderstudyError(code, message, { cause, details: { ...details, operation, url: safeUrl(url) } })
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** True for a plain JSON object (not an array, not null). */
export function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
