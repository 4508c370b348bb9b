import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { IDLE, moduleOf, selfTimes, shortUrl, type CpuProfile } from './profile.js'

/** `title` heads the graph (the busy and sampled time are appended); `width` is in px. */
export interface FlameOptions { title?: string, width?: number /* default 1200 */ }

// A flame graph in the style of flamegraph.pl: one box per frame, as wide as
// the time spent in it and everything it called, callers below callees. The
// top functions by self time (profile.ts) say where the CPU goes; this says
// why, by showing which paths lead there.

const FRAME = 16
const CHAR = 6.6
const PAD = 10
const HEADER = 44
const MIN_SHARE = 0.001

type Kind = 'ours' | 'npm' | 'node' | 'native'

/** Frames of the call tree merged by function identity, as flamegraph.pl merges identical stacks. */
interface Frame { name: string, url: string, line: number, us: number, children: Map<string, Frame> }

/** Which of the four colours a frame gets: where its code lives, so the picture reads at a glance. */
function kindOf (url: string, name: string): Kind {
  const mod = moduleOf(url, name)
  if (mod === '(native)' || mod === '(garbage collector)') return 'native'
  if (mod === 'node (internals)') return 'node'
  if (url.includes('node_modules/')) return 'npm'
  return 'ours'
}

const PALETTE: Record<Kind, { label: string, base: [number, number, number], spread: [number, number, number] }> = {
  ours: { label: 'our code (src, plugins)', base: [215, 60, 25], spread: [40, 90, 30] },
  npm: { label: 'npm packages', base: [205, 185, 40], spread: [40, 45, 40] },
  node: { label: 'node internals', base: [70, 165, 70], spread: [60, 60, 50] },
  native: { label: 'native, GC, builtins', base: [135, 150, 180], spread: [40, 40, 45] }
}

/** FNV-1a, so the shade of a function is the same on every run and in every graph. */
function hash (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return (h >>> 0) / 0xffffffff
}

function colour (kind: Kind, name: string): string {
  const { base, spread } = PALETTE[kind]
  const v = hash(name)
  return `rgb(${base.map((b, i) => Math.round(b + spread[i]! * v)).join(',')})`
}

function escapeXml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
}

const num = (n: number) => String(Math.round(n * 100) / 100)

/** Merges the profile's call tree by function identity and charges each frame its self time (idle excluded). */
function mergeTree (profile: CpuProfile): { root: Frame, busyUs: number, sampledUs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfUs = selfTimes(profile)
  const childIds = new Set(profile.nodes.flatMap((node) => node.children ?? []))
  const root: Frame = { name: '', url: '', line: 0, us: 0, children: new Map() }
  let busyUs = 0
  let sampledUs = 0
  const visit = (id: number, parent: Frame): number => {
    const { callFrame, children = [] } = byId.get(id)!
    const name = callFrame.functionName || '(anonymous)'
    const key = `${name}\0${callFrame.url}\0${callFrame.lineNumber}`
    let frame = parent.children.get(key)
    if (frame === undefined) {
      frame = { name, url: callFrame.url, line: callFrame.lineNumber, us: 0, children: new Map() }
      parent.children.set(key, frame)
    }
    let us = selfUs.get(id) ?? 0
    sampledUs += us
    if (IDLE.has(name)) us = 0
    busyUs += us
    for (const child of children) us += visit(child, frame)
    frame.us += us
    return us
  }
  for (const node of profile.nodes) if (!childIds.has(node.id)) root.us += visit(node.id, root)
  return { root, busyUs, sampledUs }
}

/** Renders a .cpuprofile as a self-contained SVG flame graph. */
export function flameGraphSvg (profile: CpuProfile, options: FlameOptions = {}): string {
  const width = options.width ?? 1200
  const { root, busyUs, sampledUs } = mergeTree(profile)
  const scale = root.us > 0 ? (width - 2 * PAD) / root.us : 0
  const minUs = root.us * MIN_SHARE
  const boxes: Array<{ frame: Frame, x: number, depth: number }> = []
  let maxDepth = 0
  const place = (frames: Iterable<Frame>, x: number, depth: number): void => {
    const sorted = [...frames].sort((a, b) => compare(a.name, b.name) || compare(a.url, b.url) || a.line - b.line)
    for (const frame of sorted) {
      if (frame.us > 0 && frame.us >= minUs) {
        boxes.push({ frame, x, depth })
        maxDepth = Math.max(maxDepth, depth)
        place(frame.children.values(), x, depth + 1)
      }
      x += frame.us * scale
    }
  }
  place(root.children.values(), PAD, 0)

  const height = HEADER + (maxDepth + 1) * FRAME + PAD
  const title = `${options.title ?? 'CPU flame graph'}: ${Math.round(busyUs / 1000)} ms busy of ${Math.round(sampledUs / 1000)} ms sampled`
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fafafa"/>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`
  ]
  let lx = PAD
  for (const [kind, { label }] of Object.entries(PALETTE) as Array<[Kind, { label: string }]>) {
    out.push(`<g><rect x="${lx}" y="25" width="12" height="11" fill="${colour(kind, label)}"/><text x="${lx + 16}" y="34">${escapeXml(label)}</text></g>`)
    lx += 16 + (label.length + 3) * CHAR
  }
  for (const { frame, x, depth } of boxes) {
    const w = frame.us * scale
    const y = HEADER + (maxDepth - depth) * FRAME
    const where = frame.url === '' ? '' : ` (${shortUrl(frame.url)}:${frame.line + 1})`
    const tip = `${frame.name}${where} — ${num(frame.us / 1000)} ms, ${num((frame.us / root.us) * 100)} %`
    const fits = Math.floor((w - 6) / CHAR)
    const label = fits < 3 ? '' : frame.name.length <= fits ? frame.name : `${frame.name.slice(0, fits - 2)}..`
    out.push(`<g><title>${escapeXml(tip)}</title>` +
      `<rect x="${num(x)}" y="${y}" width="${num(w)}" height="${FRAME - 1}" fill="${colour(kindOf(frame.url, frame.name), frame.name)}" rx="2"/>` +
      (label === '' ? '' : `<text x="${num(x + 3)}" y="${y + 11.5}">${escapeXml(label)}</text>`) + '</g>')
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** Code-point order, not localeCompare, so the layout does not depend on the machine's locale. */
function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Reads a .cpuprofile file and writes the SVG to `out`, creating its directory. */
export async function writeFlameGraph (profileFile: string, out: string, options: FlameOptions = {}): Promise<void> {
  const profile = JSON.parse(await readFile(profileFile, 'utf8')) as CpuProfile
  await mkdir(dirname(out), { recursive: true })
  await writeFile(out, flameGraphSvg(profile, { title: basename(profileFile), ...options }))
}
