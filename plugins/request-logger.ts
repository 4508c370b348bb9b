import type { FastifyBaseLogger, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { symbols, type Bindings, type ChildLoggerOptions, type LevelWithSilent } from 'pino'
import { requestFields, responseFields } from '../src/cli/logger.js'

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/** The parent: pino's logger, which can say whether a level is on. */
type Parent = FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }

/**
 * A request's logger that becomes pino's child (with the request id bound)
 * only when something is logged at a level that is on. Fastify asks for a
 * child per request; pino's `child()` serializes and redacts its bindings at
 * once, about 3 % of the gateway's CPU in an SSO flow, for a logger that at
 * level `warn` rarely writes a line (bench/README.md, "Profile findings").
 */
export class RequestLogger {
  readonly #parent: Parent
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  #child: FastifyBaseLogger | undefined

  constructor (parent: Parent, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
    // A route's own log level makes the child differ from its parent: no shortcut then.
    if (options.level !== undefined || typeof parent.isLevelEnabled !== 'function') this.#real()
  }

  get level (): LevelWithSilent {
    return (this.#child ?? this.#parent).level as LevelWithSilent
  }

  set level (level: LevelWithSilent) {
    this.#real().level = level
  }

  // Methods on the prototype, not arrow-function fields: nothing is allocated per request until something is logged.
  fatal (...args: unknown[]): void { this.#log('fatal', args) }
  error (...args: unknown[]): void { this.#log('error', args) }
  warn (...args: unknown[]): void { this.#log('warn', args) }
  info (...args: unknown[]): void { this.#log('info', args) }
  debug (...args: unknown[]): void { this.#log('debug', args) }
  trace (...args: unknown[]): void { this.#log('trace', args) }
  silent (): void {}

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options)
  }

  #log (level: Level, args: unknown[]): void {
    if (this.#child === undefined && !this.#parent.isLevelEnabled!(level)) return
    ;(this.#real()[level] as (...a: unknown[]) => void)(...args)
  }

  #real (): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }
}

/**
 * An `onResponse` hook that writes one access line per finished request
 * (`logging.requests`), in place of Fastify's two: written through `logger`
 * itself, so no per-request child is made for it. The `req` serializer
 * (src/cli/logger.ts) masks secrets in the URL.
 *
 * With the gateway's own logger (its `req` serializer is `requestFields`) the
 * line's `req` and `res` are built here, as those serializers build them, and
 * written through one child made now that neither serializes nor redacts: none
 * of the redacted paths (headers, `*.client_secret`, `*.token`…) can occur in
 * these five fields, so the line is byte for byte the same, without a
 * redaction pass over each field (about 2 % of an SSO flow's CPU).
 */
export function accessLog (logger: FastifyBaseLogger) {
  const plain = ownSerializers(logger) ? logger.child({}, { redact: [], serializers: { req: same, res: same } } as ChildLoggerOptions) as Parent : undefined
  if (plain === undefined) {
    return function logRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      logger.info({ reqId: request.id, req: request, res: reply, route: request.routeOptions.url, responseTime: reply.elapsedTime }, 'request completed')
      done()
    }
  }
  return function logRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // The child follows its parent's level, should anything change it.
    if (plain.level !== logger.level) plain.level = logger.level
    if (plain.isLevelEnabled!('info')) {
      plain.info({ reqId: request.id, req: requestFields(request), res: responseFields(reply), route: request.routeOptions.url, responseTime: reply.elapsedTime }, 'request completed')
    }
    done()
  }
}

function same<T> (value: T): T {
  return value
}

/** True when `logger` serializes requests with the gateway's `requestFields` (src/cli/logger.ts), and so redacts as it does. */
function ownSerializers (logger: FastifyBaseLogger): boolean {
  return (logger as unknown as Record<symbol, Record<string, unknown> | undefined>)[symbols.serializersSym]?.req === requestFields
}

/** Fastify's `childLoggerFactory`: a lazy child per request. */
export function requestLogger (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  // The log methods take pino's arguments and pass them on unchanged.
  return new RequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger
}
