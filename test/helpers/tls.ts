import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { requireTool } from './tools.js'

const run = promisify(execFile)

/** Why these helpers cannot make certificates on this machine, or false (openssl answers `version`, not `--version`). */
export const noOpenssl = requireTool('openssl', spawnSync('openssl', ['version']).status === 0 ? undefined : 'openssl is not on PATH')

/** PEM files of a throwaway certificate authority, written by openssl. */
export interface TestCa {
  dir: string
  /** The CA's certificate: what a client trusts. */
  cert: string
  key: string
}

/** PEM files of a certificate the CA signed, and its key. */
export interface TestCert { cert: string, key: string }

/** A fresh CA in a temporary folder (P-256, one day), removed in `t`'s teardown. */
export async function testCa (t: Test, name: string): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-tls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '1'])
  return { dir, cert, key }
}

/** A certificate signed by `ca` for the DNS names in `names`, as a server (serverAuth) or a client (clientAuth). */
export async function issue (ca: TestCa, file: string, names: string[], usage: 'serverAuth' | 'clientAuth'): Promise<TestCert> {
  const cert = join(ca.dir, `${file}.crt`)
  const key = join(ca.dir, `${file}.key`)
  const csr = join(ca.dir, `${file}.csr`)
  const ext = join(ca.dir, `${file}.ext`)
  await writeFile(ext, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=${usage}\n`)
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${names[0]}`])
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext])
  return { cert, key }
}

/** A TCP port of 127.0.0.1 that was free a moment ago. */
export async function freeTcpPort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
