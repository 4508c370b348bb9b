/** Whether this instance should receive traffic: ready once listening with keys loaded; draining at shutdown or on request. */
export class Lifecycle {
  #ready = false
  #draining = false
  #drainReason: string | undefined

  /** Marks the instance able to serve logins (keys loaded, listening). */
  markReady (): void { this.#ready = true }

  /** Starts a drain: `/readyz` answers 503 so load balancers move traffic away. */
  drain (reason: string): void {
    this.#draining = true
    this.#drainReason = reason
  }

  /** Ends a planned drain (never a shutdown drain). */
  undrain (): void {
    if (this.#drainReason === 'shutdown') return
    this.#draining = false
    this.#drainReason = undefined
  }

  get ready (): boolean { return this.#ready && !this.#draining }
  get draining (): boolean { return this.#draining }
  get drainReason (): string | undefined { return this.#drainReason }
}
