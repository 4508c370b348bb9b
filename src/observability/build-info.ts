import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What runs: the gateway's version and the Node.js release that runs it (`process.version`, e.g. "v24.22.3"). */
export interface BuildInfo {
  version: string
  node: string
}

let cached: BuildInfo | undefined

/** The gateway's version and its Node.js version, read once per process. */
export function buildInfo (): BuildInfo {
  cached ??= { version: packageVersion(), node: process.version }
  return cached
}

// The nearest package.json above this file, the one Node itself reads for this module: the repository's
// when run from src/ (tsx) or dist/, /app/package.json in the image.
function packageVersion (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err
    }
  }
}
