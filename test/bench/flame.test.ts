import t from 'tap'
import { flameGraphSvg } from '../../bench/lib/flame.js'
import type { CpuProfile } from '../../bench/lib/profile.js'

const ODD = '<anonymous> & "x"'

// (root) → a → b, (root) → a → ODD, (root) → (idle), (root) → (garbage collector),
// and (root) → a → b again through other node ids (V8 splits a call site into
// several nodes), which must merge into the first a → b.
// Each sample is charged the time until the next one (the last: its own delta).
function profile (): CpuProfile {
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber })
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 5, 6, 7] },
      { id: 2, callFrame: frame('a', 'file:///app/dist/src/oidc/a.js', 9), children: [3, 4] },
      { id: 3, callFrame: frame('b', 'file:///app/node_modules/jose/dist/b.js', 19) },
      { id: 4, callFrame: frame(ODD, 'node:internal/crypto', 4) },
      { id: 5, callFrame: frame('(idle)') },
      { id: 6, callFrame: frame('(garbage collector)') },
      { id: 7, callFrame: frame('a', 'file:///app/dist/src/oidc/a.js', 9), children: [8] },
      { id: 8, callFrame: frame('b', 'file:///app/node_modules/jose/dist/b.js', 19) }
    ],
    // b: 3 ms, ODD: 1 ms, idle: 10 ms, GC: 1 ms
    samples: [3, 8, 4, 5, 3, 6],
    timeDeltas: [0, 1000, 1000, 1000, 10000, 1000]
  }
}

interface Box { tip: string, x: number, y: number, width: number, label: string | undefined }

function boxes (svg: string): Box[] {
  return [...svg.matchAll(/<g><title>([^<]*)<\/title><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"[^>]*\/>(?:<text[^>]*>([^<]*)<\/text>)?<\/g>/g)]
    .map((m) => ({ tip: m[1]!, x: Number(m[2]), y: Number(m[3]), width: Number(m[4]), label: m[5] }))
}

function box (svg: string, name: string): Box {
  const found = boxes(svg).filter((b) => b.tip.startsWith(`${name} `))
  if (found.length !== 1) throw new Error(`expected one box for ${name}, found ${found.length}`)
  return found[0]!
}

t.test('the SVG is well formed: one root element, balanced groups', async (t) => {
  const svg = flameGraphSvg(profile())
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.ok(svg.trimEnd().endsWith('</svg>'))
  t.equal(svg.match(/<svg[\s>]/g)?.length, 1)
  t.equal(svg.match(/<g>/g)?.length, svg.match(/<\/g>/g)?.length)
  t.notMatch(svg, /<script/)
  t.match(svg, /font-family="monospace" font-size="11"/)
})

t.test('one box per merged frame, as wide as its inclusive time, root at the bottom', async (t) => {
  const svg = flameGraphSvg(profile(), { width: 1020 })
  const names = boxes(svg).map((b) => b.tip.split(' (')[0]!.split(' —')[0])
  t.same(names.sort(), ['(garbage collector)', '(root)', ODD.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'), 'a', 'b'].sort())
  const root = box(svg, '(root)')
  const a = box(svg, 'a')
  const b = box(svg, 'b')
  const odd = box(svg, '&lt;anonymous&gt;')
  const gc = box(svg, '(garbage collector)')
  t.equal(root.width, 1000, 'the root spans the width less the padding')
  t.equal(a.width, 800, 'a: 4 of 5 busy ms')
  t.equal(b.width, 600)
  t.equal(odd.width, 200)
  t.equal(gc.width, 200)
  t.equal(a.width, b.width + odd.width, 'a has no self time')
  t.ok(root.y > a.y && a.y > b.y && b.y === odd.y && a.y === gc.y, 'callers below callees')
  t.equal(gc.x, root.x, 'children start at their parent')
  t.equal(a.x, gc.x + gc.width, 'siblings sit side by side')
  t.ok(odd.x < b.x, 'siblings sorted by name: "<" sorts before "b"')
  t.ok(gc.x < a.x, 'siblings sorted by name: "(" sorts before "a"')
  t.equal(b.x, odd.x + odd.width)
  t.match(a.tip, /^a \(src\/oidc\/a\.js:10\) — 4 ms, 80 %$/)
  t.match(b.tip, /^b \(jose\/dist\/b\.js:20\) — 3 ms, 60 %$/)
})

t.test('idle time is left out, and the title says how much was busy', async (t) => {
  const svg = flameGraphSvg(profile(), { title: 'gateway' })
  t.notMatch(svg, /\(idle\)/)
  t.match(svg, /gateway: 5 ms busy of 15 ms sampled/)
})

t.test('names are XML-escaped in tooltips and labels', async (t) => {
  const svg = flameGraphSvg(profile(), { width: 4000 })
  const odd = box(svg, '&lt;anonymous&gt;')
  t.equal(odd.tip, '&lt;anonymous&gt; &amp; &quot;x&quot; (node:internal/crypto:5) — 1 ms, 20 %')
  t.equal(odd.label, '&lt;anonymous&gt; &amp; &quot;x&quot;')
  t.notMatch(svg, /<anonymous>|& "/)
  t.match(flameGraphSvg(profile(), { title: "it's <mine>" }), /it&apos;s &lt;mine&gt;/)
})

t.test('labels are cut to fit their box, and left out when under 3 characters fit', async (t) => {
  const p = profile()
  for (const node of p.nodes) if (node.callFrame.functionName === 'a') node.callFrame.functionName = 'aVeryLongFunctionNameIndeed'
  const svg = flameGraphSvg(p, { width: 220 })
  const a = box(svg, 'aVeryLongFunctionNameIndeed')
  t.equal(a.width, 160)
  t.equal(a.label, 'aVeryLongFunctionName..', '(160 - 6) / 6.6: 23 characters fit')
  t.equal(box(svg, 'b').label, 'b')
  t.equal(box(svg, '(garbage collector)').label, '(ga..', '40 px: 5 characters fit')
  const narrow = flameGraphSvg(p, { width: 120 })
  t.equal(box(narrow, '(garbage collector)').width, 20)
  t.equal(box(narrow, '(garbage collector)').label, undefined, '20 px: 2 characters fit, too few for a label')
  t.equal(box(narrow, 'aVeryLongFunctionNameIndeed').label, 'aVeryLong..', '(80 - 6) / 6.6: 11 characters fit')
})

t.test('colours follow the kind of code, and rendering is deterministic', async (t) => {
  const svg = flameGraphSvg(profile())
  const fill = (name: string) => {
    const m = svg.match(new RegExp(`<title>${name.replace(/[()]/g, '\\$&')} [^<]*</title><rect [^>]*fill="rgb\\((\\d+),(\\d+),(\\d+)\\)"`))
    return m === null ? undefined : m.slice(1).map(Number)
  }
  const [ar, ag, ab] = fill('a')!
  t.ok(ar! > 200 && ag! < 160 && ab! < 80, `our code is warm: ${fill('a')}`)
  const [br, bg, bb] = fill('b')!
  t.ok(br! > 180 && bg! > 170 && bb! < 100, `npm is yellow: ${fill('b')}`)
  const [nr, ng, nb] = fill('&lt;anonymous&gt;')!
  t.ok(ng! > nr! && ng! > nb!, `node internals are green: ${fill('&lt;anonymous&gt;')}`)
  const [gr, gg, gb] = fill('(garbage collector)')!
  t.ok(gb! > gr! && gb! >= gg!, `native is grey-blue: ${fill('(garbage collector)')}`)
  t.equal(flameGraphSvg(profile()), svg)
  t.match(svg, /our code[\s\S]*npm packages[\s\S]*node internals[\s\S]*native/, 'legend')
})

t.test('boxes under 0.1% of the width are left out', async (t) => {
  const p = profile()
  p.nodes.push({ id: 9, callFrame: { functionName: 'tiny', url: 'file:///app/src/t.ts', lineNumber: 0 } })
  p.nodes[0]!.children!.push(9)
  p.samples.push(9, 5)
  p.timeDeltas.push(1000, 4)
  t.notMatch(flameGraphSvg(p), /tiny/, '4 of 5004 µs is under 0.1%')
  p.timeDeltas[7] = 100
  t.match(flameGraphSvg(p), /<title>tiny \(src\/t\.ts:1\) — 0\.1 ms, 1\.96 %/)
})
