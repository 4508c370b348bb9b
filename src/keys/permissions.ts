import { stat } from 'node:fs/promises'
import type { Config } from '../config/resolve.js'
import { UnderstudyError } from '../errors.js'
import { holdsDevKey, isLocalIssuer } from './dev-keys.js'

/** A key file that every user of the host may read or write, with its mode in octal (e.g. `0644`). */
export interface ExposedKeyFile { path: string, mode: string }

/**
 * The files among `paths` that users other than their owner and group may
 * read or write (mode & 0o006). Group access is accepted: Kubernetes mounts a
 * secret volume 0440 with `fsGroup` so that a non-root gateway can read it.
 * Windows has no such modes, so nothing is reported there; unreadable files
 * are the keyring's to report.
 */
export async function exposedKeyFiles (paths: readonly string[], platform: NodeJS.Platform = process.platform): Promise<ExposedKeyFile[]> {
  if (platform === 'win32') return []
  const exposed: ExposedKeyFile[] = []
  for (const path of paths) {
    const mode = await stat(path).then((s) => s.mode & 0o777, () => undefined)
    if (mode !== undefined && (mode & 0o006) !== 0) exposed.push({ path, mode: `0${mode.toString(8).padStart(3, '0')}` })
  }
  return exposed
}

/** Why a key file must not be used, with the config path that names it. */
export interface KeyFileProblem { code: 'US_ERR_KEYS_DEV' | 'US_ERR_KEYS_EXPOSED', path: string, file: string, message: string }

/**
 * The key files a config names (signing, sealing, TLS key) that the gateway
 * refuses: the committed dev keys (found by thumbprint, so a copy under
 * another name is found too) for an issuer that is not local, and files that
 * every user may read or write.
 */
export async function keyFileProblems (config: Pick<Config, 'issuer' | 'keys' | 'listen'>, platform: NodeJS.Platform = process.platform): Promise<KeyFileProblem[]> {
  const named = [
    { path: '/keys/signing', file: config.keys.signing },
    { path: '/keys/sealing', file: config.keys.sealing },
    ...(config.listen.tls ? [{ path: '/listen/tls/key', file: config.listen.tls.key }] : []),
  ]
  const problems: KeyFileProblem[] = []
  const secret: typeof named = []
  for (const entry of named) {
    // The dev keys are public anyway: with a local issuer their mode does not matter.
    if (!(await holdsDevKey(entry.file))) secret.push(entry)
    else if (!isLocalIssuer(config.issuer)) {
      problems.push({ code: 'US_ERR_KEYS_DEV', ...entry, message: `${entry.file} holds the committed development keys (certs/dev), which anyone can read; they serve only an issuer on localhost or 127.0.0.1, not ${config.issuer}: make real keys with understudy keys generate DIR` })
    }
  }
  for (const { path: file, mode } of await exposedKeyFiles(secret.map((e) => e.file), platform)) {
    const path = secret.find((e) => e.file === file)!.path
    problems.push({ code: 'US_ERR_KEYS_EXPOSED', path, file, message: `${file} has mode ${mode}: every user of the host may read or write it; allow only the gateway's user (chmod 600) or its group (0440, as a Kubernetes secret volume with fsGroup)` })
  }
  return problems
}

/** Refuses unsafe key files at start, the committed dev keys first: theirs is the graver mistake. */
export async function assertSafeKeyFiles (config: Pick<Config, 'issuer' | 'keys' | 'listen'>, platform: NodeJS.Platform = process.platform): Promise<void> {
  const problems = await keyFileProblems(config, platform)
  for (const code of ['US_ERR_KEYS_DEV', 'US_ERR_KEYS_EXPOSED'] as const) {
    const found = problems.filter((p) => p.code === code)
    if (found.length > 0) throw new UnderstudyError(code, found.map((p) => p.message).join('\n'), { details: { files: found.map((p) => p.file) } })
  }
}
