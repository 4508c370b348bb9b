// The upstream IdP (oidc-provider, N regions) with a TCP fault proxy in front of each region.
import { startUpstreamIdp, type UpstreamIdp, type UpstreamIdpClient } from '../../harness/demo/upstream-idp.js'
import { startFaultProxy, type Fault, type FaultProxy } from '../../harness/fault-proxy.js'
import { serve } from '../lib/child.js'

let upstream: UpstreamIdp | undefined
let proxies: FaultProxy[] = []

serve({
  async start (payload) {
    const { clients, regions, keepAliveTimeoutMs } = payload as { clients: UpstreamIdpClient[], regions: number, keepAliveTimeoutMs?: number }
    upstream = await startUpstreamIdp({ clients, regions, ...(keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs }) })
    proxies = await Promise.all(upstream.regions.map(async (r) => {
      const url = new URL(r.url)
      return startFaultProxy({ target: { host: url.hostname, port: Number(url.port) }, name: r.name })
    }))
    return { issuer: upstream.issuer, regions: upstream.regions.map((r, i) => ({ name: r.name, url: `http://${proxies[i]!.address}` })) }
  },
  /** Applies one fault to every region's proxy: `{ kind: 'blackhole' }` is the whole upstream going dark. */
  async fault (fault) {
    await Promise.all(proxies.map(async (p) => p.setFault(fault as Fault)))
  },
}, async () => {
  await Promise.all(proxies.map(async (p) => p.close()))
  await upstream?.close()
})
