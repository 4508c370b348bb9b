import { ConfigError, loadConfigFile, type ConfigProblem } from '../config/load.js'
import type { Config } from '../config/resolve.js'
import { isUnderstudyError } from '../errors.js'
import { loadKeyring, type KeyProblem, type Keyring } from '../keys/keyring.js'
import { keyFileProblems } from '../keys/permissions.js'

const USAGE = 'usage: understudy check-config FILE'

/**
 * `understudy check-config FILE`: validates the config and the keys it names,
 * prints every problem with its JSON-pointer path to `err` and answers 2, or
 * prints a one-line summary to `out` and answers 0.
 */
export async function checkConfigCommand (args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [file, ...extra] = args
  if (!file || extra.length > 0) {
    err.write(`${USAGE}\n`)
    return 2
  }
  try {
    const config = await loadConfigFile(file, env)
    const problems = await keyProblems(config)
    if (problems.length > 0) throw new ConfigError(file, problems)
    out.write(`${file}: ok (${config.providers.length} providers, ${config.clients.length} clients)\n`)
    return 0
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    err.write(`${error.report()}\n`)
    return 2
  }
}

/**
 * The problems with the key files a config names, as start would find them:
 * files it refuses (the committed dev keys for a real issuer, files every
 * user may read), unusable keys, or a client whose algorithm has no signing key.
 */
async function keyProblems (config: Config): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = (await keyFileProblems(config)).map(({ path, message }) => ({ path, message }))
  let keyring: Keyring
  try {
    keyring = await loadKeyring(config.keys)
  } catch (error) {
    if (!isUnderstudyError(error, 'US_ERR_KEYS_INVALID')) throw error
    return [...problems, ...(error.details.problems as KeyProblem[]).map(({ keys, message }) => ({ path: `/keys/${keys}`, message }))]
  }
  config.clients.forEach((client, i) => {
    const alg = client.idTokenSignedResponseAlg
    if (!keyring.signer(alg)) problems.push({ path: `/clients/${i}/idTokenSignedResponseAlg`, message: `no ${alg} key in ${config.keys.signing}` })
  })
  return problems
}
