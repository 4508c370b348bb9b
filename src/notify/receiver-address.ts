import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'

/**
 * Where a webhook may never go: link-local addresses (169.254.0.0/16,
 * fe80::/10), which is where clouds answer instance metadata (credentials),
 * and the other metadata endpoints by address and name. IPv4-mapped IPv6
 * forms are matched as their IPv4 address.
 */
const REFUSED = new BlockList()
REFUSED.addSubnet('169.254.0.0', 16, 'ipv4')
REFUSED.addSubnet('fe80::', 10, 'ipv6')
REFUSED.addAddress('fd00:ec2::254', 'ipv6') // AWS IMDS over IPv6
REFUSED.addAddress('100.100.100.200', 'ipv4') // Alibaba Cloud metadata
const REFUSED_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal'])

/** Why a receiver host (a name or an address, IPv6 with or without brackets) is refused, or undefined when it is not. */
export function refusedReceiverHost (host: string): string | undefined {
  const bare = host.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase()
  const family = isIP(bare)
  if (family === 0) return REFUSED_NAMES.has(bare) ? `${bare} is a cloud metadata endpoint` : undefined
  const refused = REFUSED.check(bare, family === 4 ? 'ipv4' : 'ipv6') || (family === 6 && REFUSED.check(embeddedIpv4(bare) ?? '0.0.0.0', 'ipv4'))
  return refused ? `${bare} is a link-local or cloud metadata address` : undefined
}

/**
 * The IPv4 address inside a NAT64 (64:ff9b::/96) or IPv4-compatible (::/96)
 * IPv6 address, which a NAT64 gateway or a dual stack would reach as that IPv4
 * address; undefined for any other IPv6 address.
 */
function embeddedIpv4 (ipv6: string): string | undefined {
  const canonical = new URL(`http://[${ipv6}]/`).hostname.slice(1, -1)
  const tail = /^(?:64:ff9b::|::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical)
  if (!tail) return undefined
  const high = parseInt(tail[1]!, 16)
  const low = parseInt(tail[2]!, 16)
  return [high >> 8, high & 255, low >> 8, low & 255].join('.')
}

type Lookup = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

/**
 * A `lookup` for outbound sockets that refuses names resolving to a refused
 * address, so that DNS cannot send a delivery where the config could not.
 * Every address is checked, not only the first, since the socket may try them all.
 */
export function guardedLookup (lookup: Lookup = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0)
      const refused = addresses.map((a) => refusedReceiverHost(a.address)).find((why) => why !== undefined)
      if (refused) return callback(Object.assign(new Error(`${hostname} resolves to a refused address: ${refused}`), { code: 'ERR_WEBHOOK_ADDRESS_REFUSED' }), '', 0)
      if (options.all) return callback(null, addresses)
      const first = addresses[0]
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0)
      callback(null, first.address, first.family)
    })
  }
}
