import { createHash } from 'node:crypto'

/** Sightings of one change within this window share an event id. */
export const EVENT_ID_WINDOW_MS = 60_000

/**
 * The id of an outage event, derived from the event so that every pod (and
 * every gateway region) that sees the same change sends the same id:
 * receivers de-duplicate on it. Pods see a change at slightly different
 * times, so the time is taken by the minute; a sighting that straddles a
 * minute boundary gets a second id, which at-least-once receivers handle anyway.
 */
export function webhookEventId (event: { type: string, provider: string, region?: string }, atMs: number): string {
  const window = Math.floor(atMs / EVENT_ID_WINDOW_MS)
  return createHash('sha256').update(JSON.stringify([event.type, event.provider, event.region ?? null, window])).digest('base64url').slice(0, 22)
}
