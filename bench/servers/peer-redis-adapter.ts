// The peer's Redis storage: oidc-provider's example Redis adapter (example/adapters/redis.js in its
// repository), written again on ioredis, so the peer's Redis row stores what a deployment of it would.
import { Redis } from 'ioredis'

/** Models whose entries are listed under their grant, so that revoking a grant finds them. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])
/** Models stored as a hash, so that `consume` sets one field instead of rewriting the payload. */
const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])

type Payload = Record<string, unknown>

/**
 * An oidc-provider adapter class bound to one ioredis client, as the example
 * has it: a payload is one JSON value (a hash for what is consumed), with the
 * model's TTL; grantable entries are pushed on their grant's list (after a TTL
 * read of the list, a round trip of its own); a session is also indexed by uid.
 */
export function redisAdapter (url: string): { client: Redis, Adapter: new (model: string) => object } {
  const client = new Redis(url, { keyPrefix: 'oidc:' })

  class RedisAdapter {
    private readonly model: string
    constructor (model: string) {
      this.model = model
    }

    async upsert (id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const key = this.#key(id)
      const multi = client.multi()
      if (CONSUMABLE.has(this.model)) multi.hset(key, { payload: JSON.stringify(payload) })
      else multi.set(key, JSON.stringify(payload))
      if (expiresIn) multi.expire(key, expiresIn)
      const grantId = payload.grantId as string | undefined
      if (GRANTABLE.has(this.model) && grantId !== undefined) {
        const grantKey = `grant:${grantId}`
        multi.rpush(grantKey, key)
        const ttl = await client.ttl(grantKey)
        if (expiresIn !== undefined && expiresIn > ttl) multi.expire(grantKey, expiresIn)
      }
      const uid = payload.uid as string | undefined
      if (uid !== undefined) {
        multi.set(`uid:${uid}`, id)
        if (expiresIn) multi.expire(`uid:${uid}`, expiresIn)
      }
      await multi.exec()
    }

    async find (id: string): Promise<Payload | undefined> {
      if (CONSUMABLE.has(this.model)) {
        const { payload, ...rest } = await client.hgetall(this.#key(id))
        return payload === undefined ? undefined : { ...rest, ...JSON.parse(payload) as Payload }
      }
      const data = await client.get(this.#key(id))
      return data === null ? undefined : JSON.parse(data) as Payload
    }

    async findByUid (uid: string): Promise<Payload | undefined> {
      const id = await client.get(`uid:${uid}`)
      return id === null ? undefined : this.find(id)
    }

    async findByUserCode (): Promise<undefined> { return undefined }

    async consume (id: string): Promise<void> {
      await client.hset(this.#key(id), 'consumed', Math.floor(Date.now() / 1000))
    }

    async destroy (id: string): Promise<void> {
      await client.del(this.#key(id))
    }

    async revokeByGrantId (grantId: string): Promise<void> {
      const grantKey = `grant:${grantId}`
      // The list holds keys as this adapter names them: ioredis adds the prefix to each DEL.
      const keys = await client.lrange(grantKey, 0, -1)
      const multi = client.multi()
      for (const key of keys) multi.del(key)
      multi.del(grantKey)
      await multi.exec()
    }

    #key (id: string): string { return `${this.model}:${id}` }
  }

  return { client, Adapter: RedisAdapter }
}
