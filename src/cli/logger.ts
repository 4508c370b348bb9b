import { pino, stdSerializers, type Logger, type DestinationStream } from 'pino'

/** Query parameters whose values never reach a log line. */
const SECRET_PARAMS = /^(code|state|nonce|id_token_hint|access_token|refresh_token|token|client_secret|code_verifier|login_hint|session_state|iss)$/i

const NON_ASCII = /[^\x00-\x7f]/
const PLUS = /\+/g

/**
 * A request path with secret query values masked, so codes and tokens never reach the logs.
 * Each parameter as URLSearchParams reads it (a repeated name shows its first value), the
 * value cut to 64 characters. An ASCII query whose escapes all decode, as every query of a
 * login does, is read with indexOf and decodeURIComponent, which give URLSearchParams's
 * result there (test/cli/safe-url.test.ts compares them on random inputs) at a fraction
 * of its cost: the access line of every /authorize request masks one.
 */
export function safeUrl (url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  // URLSearchParams drops one leading '?' of the string it is given.
  const query = url.slice(url.charCodeAt(q + 1) === 0x3f ? q + 2 : q + 1)
  const pairs = NON_ASCII.test(query) ? undefined : formPairs(query, query.indexOf('+') !== -1)
  if (pairs === undefined) return searchParamsSafeUrl(url, q)
  const first = new Map<string, string>()
  for (const [name, value] of pairs) if (!first.has(name)) first.set(name, value)
  let shown = ''
  for (let i = 0; i < pairs.length; i++) {
    const name = pairs[i]![0]
    shown += `${i === 0 ? '' : '&'}${name}=${SECRET_PARAMS.test(name) ? '[redacted]' : first.get(name)!.slice(0, 64)}`
  }
  return `${url.slice(0, q)}?${shown}`
}

/** safeUrl through URLSearchParams itself: for what formPairs does not read (non-ASCII text, escapes that do not decode). */
function searchParamsSafeUrl (url: string, q: number): string {
  const params = new URLSearchParams(url.slice(q + 1))
  const shown = [...params.keys()].map((k) => (SECRET_PARAMS.test(k) ? `${k}=[redacted]` : `${k}=${params.get(k)?.slice(0, 64)}`))
  return `${url.slice(0, q)}?${shown.join('&')}`
}

/** The decoded name-value pairs of an ASCII query as URLSearchParams reads them, or undefined when an escape does not decode. */
function formPairs (query: string, plus: boolean): Array<[string, string]> | undefined {
  const pairs: Array<[string, string]> = []
  let start = 0
  while (start < query.length) {
    let end = query.indexOf('&', start)
    if (end === -1) end = query.length
    if (end > start) {
      const equals = query.indexOf('=', start)
      const split = equals !== -1 && equals < end
      const name = formDecode(query.slice(start, split ? equals : end), plus)
      const value = split ? formDecode(query.slice(equals + 1, end), plus) : ''
      if (name === undefined || value === undefined) return undefined
      pairs.push([name, value])
    }
    start = end + 1
  }
  return pairs
}

/** A name or value: '+' as a space (when the query has any), then percent-decoded; undefined when an escape does not decode. */
function formDecode (part: string, plus: boolean): string | undefined {
  if (plus && part.indexOf('+') !== -1) part = part.replace(PLUS, ' ')
  if (part.indexOf('%') === -1) return part
  try {
    return decodeURIComponent(part)
  } catch {
    return undefined
  }
}

/** How a request appears in a log line (`req`): the method, the URL with its secrets masked, the request id and the client address. */
export function requestFields (req: { method?: string, url?: string, id?: string, ip?: string }): { method: string | undefined, url: string, id: string | undefined, remoteAddress: string | undefined } {
  return { method: req.method, url: safeUrl(req.url ?? ''), id: req.id, remoteAddress: req.ip }
}

/** How a response appears in a log line (`res`): its status. */
export function responseFields (res: { statusCode?: number }): { statusCode: number | undefined } {
  return { statusCode: res.statusCode }
}

/** The JSON-lines logger at `level` (the config's `logging.level`): secrets redacted, request URLs masked. */
export function createLogger (options: { level?: string, destination?: DestinationStream } = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    base: { service: 'understudy' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.client_secret', '*.clientSecret', '*.token', 'headers.authorization', 'headers.cookie'],
      censor: '[redacted]',
    },
    serializers: {
      req: requestFields,
      res: responseFields,
      err: stdSerializers.err,
    },
  }, options.destination)
}
