import type { Identity } from '../directory/directory.js'

/**
 * A person's backup methods as people are shown them (the account page, the
 * admin API): when each was made and used, never a public key, a counter or
 * another provider's subject. Times in seconds since the epoch.
 */
export interface MethodsView {
  links: Array<{ provider: string, linkedAt: number }>
  passkeys: Array<{ id: string, name: string, createdAt: number, lastUsedAt?: number, synced: boolean }>
}

/** The view of what the directory holds about a person (none: no methods). */
export function methodsView (identity: Identity | undefined): MethodsView {
  return {
    links: (identity?.links ?? []).map((l) => ({ provider: l.provider, linkedAt: l.linkedAt })),
    passkeys: (identity?.passkeys ?? []).map((p) => ({ id: p.id, name: p.name, createdAt: p.createdAt, ...(p.lastUsedAt === undefined ? {} : { lastUsedAt: p.lastUsedAt }), synced: p.deviceType === 'multiDevice' })),
  }
}
