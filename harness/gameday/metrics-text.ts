/** Sums the samples of one metric in Prometheus text format whose labels pass `accept`. */
export function sumMetric (text: string, name: string, accept: (labels: Record<string, string>) => boolean = () => true): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!match || match[1] !== name) continue
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!
    const value = Number(match[3])
    if (Number.isFinite(value) && accept(labels)) sum += value
  }
  return sum
}
