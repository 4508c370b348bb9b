/** Replaces `${NAME}` in every string of a parsed config with the environment variable NAME. */
export function substituteEnv (value: unknown, env: NodeJS.ProcessEnv, missing: string[], path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name]
      if (found === undefined) {
        missing.push(`${path || '/'}: environment variable ${name} is not set`)
        return ''
      }
      return found
    })
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, missing, `${path}/${i}`))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, missing, `${path}/${k}`)]))
  }
  return value
}
