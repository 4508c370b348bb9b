import { stat } from 'node:fs/promises'

/** A key file that its group or other users may read or write, with its mode in octal (e.g. `0644`). */
export interface LooseKeyFile { path: string, mode: string }

/**
 * The files among `paths` whose permissions let anyone but their owner in
 * (mode & 0o077): private keys belong to the gateway's user alone. Windows
 * has no such modes, so nothing is reported there; unreadable files are the
 * keyring's to report.
 */
export async function looseKeyFiles (paths: readonly string[], platform: NodeJS.Platform = process.platform): Promise<LooseKeyFile[]> {
  if (platform === 'win32') return []
  const loose: LooseKeyFile[] = []
  for (const path of paths) {
    const mode = await stat(path).then((s) => s.mode & 0o777, () => undefined)
    if (mode !== undefined && (mode & 0o077) !== 0) loose.push({ path, mode: `0${mode.toString(8).padStart(3, '0')}` })
  }
  return loose
}
