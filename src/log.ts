/** The logger shape the core needs: pino's, object first (`log.warn({ err }, 'msg')`). */
export interface Logger {
  debug (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

/** A logger that drops everything (tests of pure core functions). */
export const silentLogger: Logger = { debug () {}, info () {}, warn () {}, error () {} }
