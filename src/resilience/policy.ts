import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { BreakerPolicySchema } from '../config/schema.js'
import { parseDuration } from '../config/duration.js'
import { breakerPolicyProblems, type BreakerPolicy } from '../config/resolve.js'

const PolicyPatchSchema = Type.Partial(BreakerPolicySchema, { additionalProperties: false, minProperties: 1 })

/** The outcome of reading a policy change: the merged policy, or every problem found. */
export type PolicyPatchResult = { ok: true, policy: BreakerPolicy } | { ok: false, problems: Array<{ path: string, message: string }> }

/**
 * Validates a live policy change (a partial policy; durations as in the config
 * file) against the current policy, with the bounds the config has: a
 * breaker's timeout can never be disabled, nor any value set past its bound.
 * Every problem is reported at once, the schema's and the bounds'.
 */
export function mergePolicyPatch (current: BreakerPolicy, patch: unknown): PolicyPatchResult {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return { ok: false, problems: [{ path: '', message: 'the body must be a JSON object with policy fields' }] }
  const problems = [...Value.Errors(PolicyPatchSchema, patch)].map((e) => ({ path: e.path, message: e.message }))
  const flagged = new Set(problems.map((p) => p.path.split('/')[1]))
  const merged: BreakerPolicy = { ...current }
  // Only fields the schema accepted are merged: a duration among them still has its bound to meet.
  for (const [key, value] of Object.entries(patch) as Array<[keyof BreakerPolicy, number | string]>) {
    if (key in current && !flagged.has(key)) merged[key] = typeof value === 'string' ? parseDuration(value) : value
  }
  problems.push(...breakerPolicyProblems(merged, ''))
  return problems.length > 0 ? { ok: false, problems } : { ok: true, policy: merged }
}
