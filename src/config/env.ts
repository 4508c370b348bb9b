/** What substitution met: the variables that are not set, and every path whose value came (wholly or partly) from the environment. */
export interface Substitution {
  missing: Array<{ path: string, name: string }>
  fromEnv: Set<string>
}

/** Replaces `${NAME}` in every string of a parsed config with the environment variable NAME. */
export function substituteEnv (value: unknown, env: NodeJS.ProcessEnv, found: Substitution, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      // An unset variable is reported as such; its empty stand-in is still kept out of reports.
      found.fromEnv.add(path)
      const given = env[name]
      if (given === undefined) {
        found.missing.push({ path: path || '/', name })
        return ''
      }
      return given
    })
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, found, `${path}/${i}`))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, found, `${path}/${k}`)]))
  }
  return value
}
