import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey, type LocalJWKSet } from 'jose'
import { UnderstudyError } from '../../../errors.js'
import { Cached, type CachedOptions } from '../../cached.js'
import { upstreamJson } from '../../http.js'

// A token naming an unknown kid may mean the upstream rotated its keys; a flood of them must not become a flood of fetches.
const REFETCH_COOLDOWN_MS = 30_000

/**
 * One region's upstream signing keys, from its `jwks_uri`: kept for `ttlMs`,
 * fetched again (at most every 30 s) when a token names a key we do not hold.
 * Keys come only from there: `jku`, `x5u` and `jwk` headers are never followed.
 */
export class UpstreamKeys {
  readonly #cache: Cached<KeySet>
  readonly #cooldownMs: number

  constructor (jwksUri: () => Promise<string>, options: { timeoutMs: number, ttlMs: number, cooldownMs?: number, onStale?: (err: unknown) => void, backup?: CachedOptions<KeySet>['backup'] }) {
    this.#cache = new Cached(async () => fetchJwks(await jwksUri(), options.timeoutMs), {
      ttlMs: options.ttlMs,
      ...(options.onStale ? { onStale: options.onStale } : {}),
      ...(options.backup ? { backup: options.backup } : {}),
    })
    this.#cooldownMs = options.cooldownMs ?? REFETCH_COOLDOWN_MS
  }

  /** Fetches the keys in the background. */
  warm (): void {
    this.#cache.warm()
  }

  /** A jose key resolver over these keys; `signal` stops waiting for a fetch. */
  resolver (signal?: AbortSignal): JWTVerifyGetKey {
    return async (header, token) => {
      const { keys } = await this.#cache.get(signal)
      try {
        return await keys(header, token)
      } catch (err) {
        const fetchedAt = this.#cache.fetchedAt ?? 0
        if ((err as { code?: unknown }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || Date.now() - fetchedAt < this.#cooldownMs) throw err
        return (await this.#cache.refresh(signal)).keys(header, token)
      }
    }
  }
}

/** A key set as fetched (kept as a backup copy) and ready for jose. */
export interface KeySet { raw: JSONWebKeySet, keys: LocalJWKSet }

/** The codec of a key set's backup copy: the JWKS JSON. */
export const KEY_SET_CODEC = {
  encode: (set: KeySet) => JSON.stringify(set.raw),
  decode: (text: string) => keySet(JSON.parse(text)),
}

async function fetchJwks (url: string, timeoutMs: number): Promise<KeySet> {
  return keySet(await upstreamJson(url, { timeoutMs, operation: 'jwks' }))
}

function keySet (body: unknown): KeySet {
  try {
    return { raw: body as JSONWebKeySet, keys: createLocalJWKSet(body as JSONWebKeySet) }
  } catch (err) {
    throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the upstream JWKS is not a JSON Web Key Set', { cause: err, details: { operation: 'jwks' } })
  }
}
