import { readFile } from 'node:fs/promises'

/** One call-tree node of a V8 .cpuprofile: a frame reached by one particular path from the root. */
export interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[], hitCount?: number }
/** What `node --cpu-prof` writes: the call tree, the node id of each sample and the µs between samples. */
export interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

/** Self time of one function (or one module), in ms and as a share of the busy (non-idle) time. */
export interface SelfTime { name: string, ms: number, percent: number }

export interface ProfileSummary { busyMs: number, idleMs: number, functions: SelfTime[], modules: SelfTime[] }

/** Frames where the process was waiting rather than running JavaScript or native work. */
export const IDLE = new Set(['(idle)', '(program)'])

/**
 * Self time in µs of each node id: each sample is charged the time until the
 * next sample, as DevTools does. Shared so the summary and the flame graph agree.
 */
export function selfTimes (profile: CpuProfile): Map<number, number> {
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    const delta = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
  }
  return selfUs
}

/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and sums the self time of each
 * function and of each module (a package, node's internals, or a source file).
 * Each sample is charged the time until the next sample, as DevTools does.
 */
export async function summarizeProfile (file: string, top = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfUs = selfTimes(profile)
  const functions = new Map<string, number>()
  const modules = new Map<string, number>()
  let busy = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!
    const fn = callFrame.functionName || '(anonymous)'
    if (IDLE.has(fn)) { idle += us; continue }
    busy += us
    const where = shortUrl(callFrame.url)
    const key = where === '' ? fn : `${fn} ${where}:${callFrame.lineNumber + 1}`
    functions.set(key, (functions.get(key) ?? 0) + us)
    const mod = moduleOf(callFrame.url, fn)
    modules.set(mod, (modules.get(mod) ?? 0) + us)
  }
  const rank = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percent: Math.round((us / busy) * 1000) / 10 }))
  return { busyMs: Math.round(busy / 1000), idleMs: Math.round(idle / 1000), functions: rank(functions), modules: rank(modules) }
}

/** A script url without the noise: `jose/dist/...`, `src/oidc/token.ts`, `node:crypto`. */
export function shortUrl (url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length)
  const src = url.search(/\/(src|plugins|bench)\//)
  if (src >= 0) return url.slice(src + 1)
  return url.replace(/^file:\/\//, '')
}

/** `jose`, `fastify`, `node:internal`, `src/oidc/token.ts`, or `(native)` for builtins without a script (GC, crypto bindings). */
export function moduleOf (url: string, fn: string): string {
  if (url === '') return fn === '(garbage collector)' ? '(garbage collector)' : '(native)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith('node:')) return 'node (internals)'
  return shortUrl(url)
}
