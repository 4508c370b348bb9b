import type { Directory, Identity, LinkedIdentity, LinkResult, Passkey, Person } from '../../src/directory/directory.js'
import { UnderstudyError } from '../../src/errors.js'

/**
 * The Directory interface in memory, for tests of what uses a directory (the
 * backup login flows, the admin API); the real backends are tested by
 * test/directory/conformance.ts. `down` makes every call fail as a
 * database that does not answer does.
 */
export class MemoryDirectory implements Directory {
  down = false
  readonly people = new Map<string, Person & { offerDeclinedUntil?: number }>()
  readonly links: LinkedIdentity[] = []
  readonly passkeys = new Map<string, Passkey>()

  async migrate (): Promise<void> { this.#check() }

  async ensurePerson (person: Person): Promise<Person> {
    this.#check()
    const known = this.people.get(person.sub)
    if (known) return strip(known)
    this.people.set(person.sub, { ...person })
    return { ...person }
  }

  async identity (sub: string): Promise<Identity | undefined> {
    this.#check()
    const person = this.people.get(sub)
    if (!person) return undefined
    const identity: Identity = {
      person: strip(person),
      links: this.links.filter((l) => l.sub === sub).map((l) => ({ ...l })),
      passkeys: [...this.passkeys.values()].filter((p) => p.sub === sub).map((p) => ({ ...p })),
    }
    if (person.offerDeclinedUntil !== undefined) identity.offerDeclinedUntil = person.offerDeclinedUntil
    return identity
  }

  async hasBackupMethod (sub: string): Promise<boolean> {
    this.#check()
    return this.links.some((l) => l.sub === sub) || [...this.passkeys.values()].some((p) => p.sub === sub)
  }

  async linkedPerson (provider: string, upstreamSub: string): Promise<{ link: LinkedIdentity, person: Person } | undefined> {
    this.#check()
    const link = this.links.find((l) => l.provider === provider && l.upstreamSub === upstreamSub)
    const person = link && this.people.get(link.sub)
    return link && person ? { link: { ...link }, person: strip(person) } : undefined
  }

  async link (identity: LinkedIdentity): Promise<LinkResult> {
    this.#check()
    const existing = this.links.find((l) => l.provider === identity.provider && l.upstreamSub === identity.upstreamSub)
    if (existing) return existing.sub === identity.sub ? 'already-linked' : 'taken'
    // One link per provider and person.
    if (this.links.some((l) => l.sub === identity.sub && l.provider === identity.provider)) return 'taken'
    this.links.push({ ...identity })
    return 'linked'
  }

  async unlink (sub: string, provider: string): Promise<boolean> {
    this.#check()
    const i = this.links.findIndex((l) => l.sub === sub && l.provider === provider)
    if (i < 0) return false
    this.links.splice(i, 1)
    return true
  }

  async addPasskey (passkey: Passkey): Promise<boolean> {
    this.#check()
    if (this.passkeys.has(passkey.id)) return false
    this.passkeys.set(passkey.id, { ...passkey })
    return true
  }

  async passkey (id: string): Promise<{ passkey: Passkey, person: Person } | undefined> {
    this.#check()
    const passkey = this.passkeys.get(id)
    const person = passkey && this.people.get(passkey.sub)
    return passkey && person ? { passkey: { ...passkey }, person: strip(person) } : undefined
  }

  async recordPasskeyUse (id: string, counter: number, at: number): Promise<boolean> {
    this.#check()
    const passkey = this.passkeys.get(id)
    if (!passkey) return false
    if (!(counter > passkey.counter || (counter === 0 && passkey.counter === 0))) return false
    passkey.counter = counter
    passkey.lastUsedAt = at
    return true
  }

  async renamePasskey (sub: string, id: string, name: string): Promise<boolean> {
    this.#check()
    const passkey = this.passkeys.get(id)
    if (!passkey || passkey.sub !== sub) return false
    passkey.name = name
    return true
  }

  async removePasskey (sub: string, id: string): Promise<boolean> {
    this.#check()
    const passkey = this.passkeys.get(id)
    if (!passkey || passkey.sub !== sub) return false
    return this.passkeys.delete(id)
  }

  async declineOffer (sub: string, until: number): Promise<void> {
    this.#check()
    const person = this.people.get(sub)
    if (person) person.offerDeclinedUntil = until
    else this.people.set(sub, { sub, provider: '', upstreamSub: '', createdAt: 0, offerDeclinedUntil: until })
  }

  async ping (): Promise<boolean> { return !this.down }
  async close (): Promise<void> {}

  #check (): void {
    if (this.down) throw new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', 'the directory is down (test)')
  }
}

function strip (person: Person & { offerDeclinedUntil?: number }): Person {
  return { sub: person.sub, provider: person.provider, upstreamSub: person.upstreamSub, createdAt: person.createdAt }
}
