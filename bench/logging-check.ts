import { open, stat } from 'node:fs/promises'
import { until } from '../harness/poll.js'

/** What the gateway's log showed for a known number of requests: its logging as it runs, not as configured. */
export interface LoggingCheck {
  /** logging.level and logging.requests of the loaded config. */
  level: string
  requests: boolean
  /** Requests sent during the check, and the lines the log gained meanwhile. */
  sent: number
  accessLines: number
  otherLines: number
  /** pino's numeric levels of those lines, by count. */
  levels: Record<string, number>
  /** One access line, as written (secrets masked by the gateway). */
  sample?: string
}

/**
 * Sends `flows` flows of `requestsPerFlow` requests one after another and
 * counts the lines the gateway's log file gained: one access line per request
 * when `logging.requests` is on (the default), none when it is off.
 */
export async function checkLogging (logFile: string, logging: { level: string, requests: boolean }, flows: number, requestsPerFlow: number, run: () => Promise<unknown>): Promise<LoggingCheck> {
  const from = (await stat(logFile)).size
  for (let i = 0; i < flows; i++) await run()
  const sent = flows * requestsPerFlow
  let lines: string[] = []
  const read = async () => {
    const file = await open(logFile)
    try {
      const { size } = await file.stat()
      const { buffer, bytesRead } = await file.read({ buffer: Buffer.alloc(size - from), position: from })
      lines = buffer.subarray(0, bytesRead).toString('utf8').split('\n').filter(Boolean)
    } finally {
      await file.close()
    }
    return lines
  }
  // pino may write asynchronously: wait (briefly) until every expected line is there.
  await until(async () => (await read()).length >= (logging.requests ? sent : 0), 2000, 'the access lines are written').catch(() => undefined)
  const access = lines.filter((l) => l.includes('"msg":"request completed"'))
  const levels: Record<string, number> = {}
  for (const line of lines) {
    const level = String(/"level":(\d+)/.exec(line)?.[1] ?? '?')
    levels[level] = (levels[level] ?? 0) + 1
  }
  return { ...logging, sent, accessLines: access.length, otherLines: lines.length - access.length, levels, ...(access[0] === undefined ? {} : { sample: access[0] }) }
}
