import { readFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'

/** The machine a run happened on, for the results file and the README. */
export async function machine (): Promise<{ nproc: number, cpu: string, memoryGb: number, node: string, platform: string }> {
  let cpu = cpus()[0]?.model ?? 'unknown'
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(await readFile('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu
  } catch {}
  return { nproc: cpus().length, cpu, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` }
}

/** A fixed-width text table. */
export function table (header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((row) => row.map((cell) => (typeof cell === 'number' ? format(cell) : cell)))]
  const widths = header.map((_, i) => Math.max(...cells.map((row) => String(row[i] ?? '').length)))
  const line = (row: Array<string | number>) => row.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]!) : String(cell).padStart(widths[i]!))).join('  ')
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

/** Numbers as people read them: no spurious decimals on big values. */
export function format (value: number): string {
  if (!Number.isFinite(value)) return '–'
  if (Math.abs(value) >= 100) return Math.round(value).toString()
  if (Math.abs(value) >= 10) return value.toFixed(1)
  if (Math.abs(value) >= 1 || value === 0) return value.toFixed(2)
  return value.toFixed(3)
}

/** Least-squares slope of y over x. */
export function slope (points: Array<[number, number]>): number {
  const n = points.length
  if (n < 2) return 0
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0)
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0)
  return sxx === 0 ? 0 : sxy / sxx
}
