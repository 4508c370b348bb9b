/** An oidc-provider model payload, the fields the indexes need. */
type Payload = Record<string, unknown> & { uid?: string, userCode?: string, grantId?: string, consumed?: number }

interface Entry { value: unknown, expiresAt: number }

// Models whose entries belong to a grant and die with it (oidc-provider's own list).
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode'])
const SWEEP_EVERY = 1_000

/**
 * Storage for the game day's upstream (an oidc-provider adapter). The
 * provider's default in-memory adapter is an LRU of 1000 entries shared by
 * the whole process: a few minutes of synthetic logins evict early users'
 * sessions and refresh tokens, and the upstream then refuses their
 * revalidation — a real upstream does not forget its users. Entries here
 * live until their own expiry, and belong to this one upstream.
 */
export function upstreamStorage (): new (model: string) => object {
  const entries = new Map<string, Entry>()
  let writes = 0
  const get = (key: string): unknown => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > Date.now()) return entry.value
    entries.delete(key)
    return undefined
  }
  const set = (key: string, value: unknown, expiresInSec?: number): void => {
    entries.set(key, { value, expiresAt: expiresInSec === undefined ? Infinity : Date.now() + expiresInSec * 1000 })
    if (++writes % SWEEP_EVERY !== 0) return
    const now = Date.now()
    for (const [k, e] of entries) if (e.expiresAt <= now) entries.delete(k)
  }
  return class UpstreamStorage {
    readonly model: string
    constructor (model: string) {
      this.model = model
    }

    async upsert (id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const key = this.#key(id)
      if (this.model === 'Session' && payload.uid) set(`sessionUid:${payload.uid}`, id, expiresIn)
      if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn)
      if (GRANTABLE.has(this.model) && payload.grantId) {
        const members = (get(`grant:${payload.grantId}`) as string[] | undefined) ?? []
        set(`grant:${payload.grantId}`, [...members, key])
      }
      set(key, payload, expiresIn)
    }

    async find (id: string): Promise<unknown> {
      return get(this.#key(id))
    }

    async findByUid (uid: string): Promise<unknown> {
      const id = get(`sessionUid:${uid}`) as string | undefined
      return id === undefined ? undefined : this.find(id)
    }

    async findByUserCode (userCode: string): Promise<unknown> {
      const id = get(`userCode:${userCode}`) as string | undefined
      return id === undefined ? undefined : this.find(id)
    }

    async consume (id: string): Promise<void> {
      const payload = get(this.#key(id)) as Payload | undefined
      if (payload) payload.consumed = Math.floor(Date.now() / 1000)
    }

    async destroy (id: string): Promise<void> {
      entries.delete(this.#key(id))
    }

    async revokeByGrantId (grantId: string): Promise<void> {
      for (const key of (get(`grant:${grantId}`) as string[] | undefined) ?? []) entries.delete(key)
      entries.delete(`grant:${grantId}`)
    }

    #key (id: string): string {
      return `${this.model}:${id}`
    }
  }
}
