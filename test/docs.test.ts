import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'
import { configJsonSchema } from '../src/cli/config-schema.js'
import { validateConfig } from '../src/config/load.js'
import { renderConfigReference } from '../src/config/reference.js'
import { DEV_KEYS } from './helpers/stack.js'

t.test('the example provider, client and webhook blocks in docs/config.md form a valid config', async (t) => {
  const text = await readFile(new URL('../docs/config.md', import.meta.url), 'utf8')
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]!) as { providers?: unknown[], clients?: unknown[], webhooks?: unknown[] })
  const providers = blocks.flatMap((b) => b.providers ?? [])
  const clients = blocks.flatMap((b) => b.clients ?? [])
  const webhooks = blocks.flatMap((b) => b.webhooks ?? [])
  t.same(providers.map((p) => (p as { id: string }).id), ['kakao', 'naver', 'google'])
  const env = Object.fromEntries(['KAKAO', 'NAVER', 'GOOGLE', 'SHOP', 'WEBHOOK', 'WEBHOOK_PREVIOUS', 'DEV_WEBHOOK'].flatMap((n) => [[`${n}_CLIENT_ID`, 'id'], [`${n}_CLIENT_SECRET`, 's'], [`${n}_SECRET`, `${n.toLowerCase()}-secret-of-16-characters`]]))
  const config = validateConfig({ issuer: 'https://login.example.com', keys: DEV_KEYS, providers, clients, webhooks }, { env })
  t.equal(config.providers.find((p) => p.id === 'naver')?.claims?.sub, 'response.id')
  t.equal(config.webhooks.length, 2, 'the webhook examples')
})

t.test('the committed config reference is the one the schema generates (npm run docs:config)', async (t) => {
  const committed = await readFile(new URL('../docs/config-reference.md', import.meta.url), 'utf8')
  t.equal(committed, renderConfigReference(configJsonSchema()), 'docs/config-reference.md is out of date: run npm run docs:config')
})

t.test('every source file docs/architecture.md names exists', async (t) => {
  const doc = await readFile(new URL('../docs/architecture.md', import.meta.url), 'utf8')
  const paths = [...new Set([...doc.matchAll(/\b(?:src|plugins|harness|test|bench)\/[\w./-]+\.ts\b/g)].map(([path]) => path))]
  t.ok(paths.length > 10, `it names ${paths.length} files`)
  for (const path of paths) t.ok(existsSync(new URL(`../${path}`, import.meta.url)), `${path} exists`)
})
