/**
 * Loads a module of the test harness (`harness/` beside `src/`): the game day
 * and the demo stack. It is never imported statically, so the gateway's build
 * (tsconfig.build.json) and the image leave it out; a clone compiles it
 * beside the gateway (`npm run build:harness`, which `npm start` runs), and
 * the CLI run from source loads its TypeScript.
 *
 * Returns undefined, having told `stderr` what is missing, when the harness
 * or a dev dependency it needs is absent (as in the image).
 */
export async function loadHarness<T> (module: string, what: string, stderr: NodeJS.WritableStream): Promise<T | undefined> {
  const fromSource = import.meta.url.endsWith('.ts')
  const url = new URL(`../../harness/${module}${fromSource ? '.ts' : '.js'}`, import.meta.url)
  try {
    return await import(url.href) as T
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err
    stderr.write([
      `${what} needs a clone of the repository with dev dependencies: ${(err as Error).message.split('\n')[0]}`,
      'The image and `npm run build` carry the gateway only. In a clone: npm ci && npm run build:harness',
      '',
    ].join('\n'))
    return undefined
  }
}
