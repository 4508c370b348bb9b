/** A change to a person's backup login methods, for webhooks (`identity.*`) and the log. */
export interface IdentityEvent {
  type: 'identity.passkey.added' | 'identity.passkey.removed' | 'identity.linked' | 'identity.unlinked'
  /** The person's gateway `sub`. */
  sub: string
  /** The linked provider (identity.linked, identity.unlinked). */
  provider?: string
  /** The passkey's credential id (identity.passkey.*). */
  passkey?: string
  /** Who made the change: the user on /account, or a support desk through the admin API. */
  actor: 'user' | 'admin'
}

/** Where identity events go: signed webhooks to the receivers subscribed to them. */
export interface IdentityEvents {
  emit (event: IdentityEvent): void
}
