import t from 'tap'
import { freshEnough, reauthenticateUpFront } from '../../src/oidc/fresh-authentication.js'

// An injected clock: the transaction started at START, the callback comes back at NOW.
const START = 1_000_000
const NOW = START + 20

t.test('the upstream is told to re-authenticate up front for prompt=login, max_age=0, and any max_age to a plain OAuth 2.0 provider', async (t) => {
  const cases: Array<[string, { prompt: string[], maxAge?: number }, 'oidc' | 'oauth2', boolean]> = [
    ['a plain request', { prompt: [] }, 'oidc', false],
    ['prompt=login', { prompt: ['login'] }, 'oidc', true],
    ['max_age=0', { prompt: [], maxAge: 0 }, 'oidc', true],
    ['max_age=600 to an OIDC upstream: passed on, checked at the callback', { prompt: [], maxAge: 600 }, 'oidc', false],
    ['max_age=600 to an OAuth 2.0 upstream, which reports no auth_time', { prompt: [], maxAge: 600 }, 'oauth2', true],
    ['a plain request to an OAuth 2.0 upstream', { prompt: [] }, 'oauth2', false],
    ['prompt=consent', { prompt: ['consent'] }, 'oidc', false],
  ]
  for (const [name, request, kind, expected] of cases) t.equal(reauthenticateUpFront(request, kind), expected, name)
})

t.test('an upstream login meets max_age and prompt=login when it is recent enough, or was made during this transaction', async (t) => {
  const plain = { startedAt: START }
  const forced = { startedAt: START, reauthenticated: true as const }
  const cases: Array<[string, { prompt: string[], maxAge?: number }, typeof plain, number | undefined, boolean]> = [
    ['no demand: any auth_time', { prompt: [] }, plain, NOW - 86_400, true],
    ['no demand: no auth_time', { prompt: [] }, plain, undefined, true],
    ['max_age=60, authenticated 30 s ago', { prompt: [], maxAge: 60 }, plain, NOW - 30, true],
    ['max_age=60, authenticated exactly 60 s ago', { prompt: [], maxAge: 60 }, plain, NOW - 60, true],
    ['max_age=60, authenticated 61 s ago, before the transaction', { prompt: [], maxAge: 60 }, plain, NOW - 61, false],
    ['max_age=60, upstream signed in silently from a session two hours old', { prompt: [], maxAge: 60 }, plain, NOW - 7200, false],
    ['max_age=60, still too old after a forced re-authentication', { prompt: [], maxAge: 60 }, forced, NOW - 7200, false],
    ['max_age=10, the user took 19 s to type a password during this transaction', { prompt: [], maxAge: 10 }, forced, START + 1, true],
    ['max_age=0, authenticated during this transaction', { prompt: [], maxAge: 0 }, forced, START + 2, true],
    ['max_age=0, authenticated 20 s before the transaction (upstream clock behind)', { prompt: [], maxAge: 0 }, forced, START - 20, true],
    ['max_age=0, authenticated 5 min before the transaction', { prompt: [], maxAge: 0 }, forced, START - 300, false],
    ['prompt=login, authenticated during this transaction', { prompt: ['login'] }, forced, START + 5, true],
    ['prompt=login, upstream ignored it and answered from a session an hour old', { prompt: ['login'] }, forced, NOW - 3600, false],
    ['prompt=login and max_age=3600 that the old login would meet', { prompt: ['login'], maxAge: 3600 }, forced, NOW - 600, false],
    ['max_age, no auth_time, upstream not told to re-authenticate: ask again', { prompt: [], maxAge: 60 }, plain, undefined, false],
    ['max_age, no auth_time, upstream told to re-authenticate: taken at its word', { prompt: [], maxAge: 60 }, forced, undefined, true],
  ]
  for (const [name, request, tx, authTime, expected] of cases) t.equal(freshEnough(request, tx, authTime, NOW), expected, name)
})
