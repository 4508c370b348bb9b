import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { writeKeySets } from '../keys/generate.js'

const USAGE = 'usage: understudy keys generate [--force] DIR'
const FILES = ['signing.jwks.json', 'sealing.jwks.json']

/**
 * `understudy keys generate DIR`: writes fresh signing and sealing JWK Sets
 * (mode 0600) into DIR and prints their paths. Existing key files are kept
 * unless `--force`: overwriting a sealing key logs every user out.
 */
export async function keysCommand (args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream = out): Promise<number> {
  const force = args.includes('--force')
  const [action, dir, ...extra] = args.filter((arg) => arg !== '--force')
  if (action !== 'generate' || !dir || dir.startsWith('-') || extra.length > 0) {
    err.write(`${USAGE}\n`)
    return 2
  }
  if (!force) {
    const existing = (await Promise.all(FILES.map(async (name) => (await exists(join(dir, name))) ? join(dir, name) : undefined))).filter(Boolean)
    if (existing.length > 0) {
      err.write(`refusing to overwrite ${existing.join(', ')} (replacing keys logs users out; use --force)\n`)
      return 1
    }
  }
  const files = await writeKeySets(dir)
  out.write(`${files.signing}\n${files.sealing}\n`)
  return 0
}

async function exists (file: string): Promise<boolean> {
  try {
    await access(file)
    return true
  } catch {
    return false
  }
}
