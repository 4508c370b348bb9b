// Runs the project's TypeScript from source (tests, the game day's and the CLI tests' child processes):
// `node --import=./harness/ts-loader.mjs file.ts`.
//
// Where Node has synchronous module hooks (`module.registerHooks`: Node 22.15 and later, 24 included),
// two hooks in the loading thread do it: `import './x.js'` (as the compiled output needs it) resolves
// to x.ts when no x.js is there, and a .ts file loads with its types removed by sucrase, in plain
// JavaScript (line numbers kept, so stack traces point at the source). What sucrase wrote is kept
// under node_modules/.cache/ts-loader, by the source's hash, so a test process mostly reads files.
// About half the CPU per process of tsx, which compiles through esbuild's service process from a
// loader thread of its own.
// Not Node's own type stripping: its stripper is WebAssembly, and WebAssembly code compiled on the main
// thread while a PGlite worker's was freed crashed a test process in V8 (`Check failed:
// jit_page.has_value()`, once in five whole runs on Node 24).
// tsconfig.json's erasableSyntaxOnly and verbatimModuleSyntax keep every source within plain type removal.
//
// On older Node (20, which a newcomer's machine may run), tsx loads everything.
// Plain JavaScript, so that it loads before any TypeScript can.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import module from 'node:module'
import { fileURLToPath } from 'node:url'

if (typeof module.registerHooks === 'function') {
  const require = module.createRequire(import.meta.url)
  const cacheDir = fileURLToPath(new URL('../node_modules/.cache/ts-loader/', import.meta.url))
  mkdirSync(cacheDir, { recursive: true })
  const sucraseVersion = require('sucrase/package.json').version

  /** `source` of `path` with its types removed: from the cache, or by sucrase (then cached, written whole or not at all). */
  const stripped = (path, source) => {
    const key = createHash('sha256').update(`${sucraseVersion}\0${path}\0${source}`).digest('hex')
    const cached = `${cacheDir}${key}.js`
    try {
      return readFileSync(cached, 'utf8')
    } catch {
      const { code } = require('sucrase').transform(source, { transforms: ['typescript'], disableESTransforms: true, keepUnusedImports: true, filePath: path })
      const temporary = `${cached}.${process.pid}.tmp`
      writeFileSync(temporary, code)
      renameSync(temporary, cached)
      return code
    }
  }

  module.registerHooks({
    resolve (specifier, context, nextResolve) {
      if (specifier.endsWith('.js') && (specifier.startsWith('./') || specifier.startsWith('../')) && context.parentURL?.endsWith('.ts')) {
        const url = new URL(specifier, context.parentURL)
        if (!existsSync(fileURLToPath(url))) return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
      }
      return nextResolve(specifier, context)
    },
    load (url, context, nextLoad) {
      if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context)
      const path = fileURLToPath(url)
      return { format: 'module', source: stripped(path, readFileSync(path, 'utf8')), shortCircuit: true }
    },
  })
} else {
  await import('tsx')
}
