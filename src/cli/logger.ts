import { pino, stdSerializers, type Logger, type DestinationStream } from 'pino'

/** Query parameters whose values never reach a log line. */
const SECRET_PARAMS = /^(code|state|nonce|id_token_hint|access_token|refresh_token|token|client_secret|code_verifier|login_hint|session_state|iss)$/i

/** A request path with secret query values masked, so codes and tokens never reach the logs. */
export function safeUrl (url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const params = new URLSearchParams(url.slice(q + 1))
  const shown = [...params.keys()].map((k) => (SECRET_PARAMS.test(k) ? `${k}=[redacted]` : `${k}=${params.get(k)?.slice(0, 64)}`))
  return `${url.slice(0, q)}?${shown.join('&')}`
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
