// Runs the project's TypeScript from source (tests, the game day's and the CLI tests' child processes):
// `node --import=./harness/ts-loader.mjs file.ts`.
//
// Where Node strips types itself (Node 22.18 and later, 24 included: `process.features.typescript`),
// the only thing missing is how the sources name each other: `import './x.js'` for `x.ts`, as the
// compiled output needs. A synchronous resolve hook maps such a specifier to the `.ts` file when no
// `.js` file is there. Everything else is Node's own loading, about half the CPU per process of
// tsx's (which compiles every file through esbuild on a loader thread). tsconfig.json's
// erasableSyntaxOnly and verbatimModuleSyntax keep every source within what type stripping accepts.
//
// On older Node (20, which a newcomer's machine may run), tsx loads everything, as before.
// Plain JavaScript, so that it loads before any TypeScript can.
import module from 'node:module'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

if (process.features.typescript && typeof module.registerHooks === 'function') {
  module.registerHooks({
    resolve (specifier, context, nextResolve) {
      if (specifier.endsWith('.js') && (specifier.startsWith('./') || specifier.startsWith('../')) && context.parentURL?.endsWith('.ts')) {
        const url = new URL(specifier, context.parentURL)
        if (!existsSync(fileURLToPath(url))) return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
      }
      return nextResolve(specifier, context)
    },
  })
} else {
  await import('tsx')
}
