const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }

/** Parses a config duration (number of seconds, or "90s", "10m", "8h", "7d") into seconds. */
export function parseDuration (value: number | string): number {
  if (typeof value === 'number') return value
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value)
  if (!match) throw new TypeError(`not a duration: ${JSON.stringify(value)}`)
  return Number(match[1]) * UNITS[match[2] ?? 's']!
}
