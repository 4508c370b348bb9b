import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer'
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap'
import type { IContainer } from 'kubernetes-models/v1/Container'
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec'
import type { ISecret } from 'kubernetes-models/v1/Secret'
import t from 'tap'
import { requireTool } from '../helpers/tools.js'
import { dummySecret, gatewayConfig, gatewayOf, mountedAt, secretKeys } from './gateway.js'
import { kustomizeProblem, named, ofKind, podTemplates, renderOverlays, selects, type K8sObject } from './render.js'

/**
 * Redis and the network locked down in the rendered overlays: every Redis
 * login has a password from a Secret, the peer link is TLS, and the
 * NetworkPolicies open nothing to whole private ranges or to the cluster at
 * large. (test/k8s/redis-config.test.ts runs the same Redis files for real.)
 */

const skip = requireTool('kubectl', await kustomizeProblem())
const overlays = skip === false ? await renderOverlays() : new Map<string, K8sObject[]>()

const label = (component: string) => ({ 'app.kubernetes.io/name': 'understudy', 'app.kubernetes.io/component': component })
/** Whole private, shared and link-local ranges: never a peer of a Redis rule. */
const WIDE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '0.0.0.0/0', '::/0', 'fc00::/7']
/** What the HTTPS rule must keep out when it admits the whole internet. */
const NOT_UPSTREAMS: Record<string, string[]> = {
  '0.0.0.0/0': ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'],
  '::/0': ['fc00::/7', 'fe80::/10'],
}
const DNS = { namespace: { 'kubernetes.io/metadata.name': 'kube-system' }, pods: { 'k8s-app': 'kube-dns' } }

interface RedisFiles { pod: IPodSpec, init: IContainer, redisConf: string, usersAcl: string, initSh: string }

/** The Redis StatefulSet's pod, its init container and the files of its config ConfigMap. */
function redisOf (objects: K8sObject[]): RedisFiles {
  const sts = ofKind<IStatefulSet>(objects, 'StatefulSet').find((s) => selects(label('redis'), s.spec?.template.metadata?.labels))
  if (!sts) throw new Error('no Redis StatefulSet in the render')
  const pod = sts.spec!.template.spec!
  const init = pod.initContainers?.find((c) => c.name === 'config')
  if (!init) throw new Error('the Redis pods have no config init container')
  const file = (name: string) => {
    const source = mountedAt(pod, init, `/config/${name}`)
    if (source?.kind !== 'ConfigMap') throw new Error(`/config/${name} is not mounted from a ConfigMap`)
    return named<IConfigMap>(objects, 'ConfigMap', source.name).data?.[source.key] ?? ''
  }
  return { pod, init, redisConf: file('redis.conf'), usersAcl: file('users.acl'), initSh: file('init.sh') }
}

/** The Secret key an environment variable of `container` comes from, or undefined when it is not from a Secret. */
function fromSecret (container: IContainer, variable: string): { name: string, key: string } | undefined {
  const ref = container.env?.find((e) => e.name === variable)?.valueFrom?.secretKeyRef
  return ref?.name && ref.key ? { name: ref.name, key: ref.key } : undefined
}

/** The Deployment whose pods carry `component`'s labels. */
function deploymentOf (objects: K8sObject[], component: string): IDeployment {
  const found = ofKind<IDeployment>(objects, 'Deployment').find((d) => selects(label(component), d.spec?.template.metadata?.labels))
  if (!found) throw new Error(`no ${component} Deployment in the render`)
  return found
}

/** The NetworkPolicy that selects `component`'s pods. */
function policyOf (objects: K8sObject[], component: string): INetworkPolicy {
  const found = ofKind<INetworkPolicy>(objects, 'NetworkPolicy').find((p) => selects(p.spec?.podSelector.matchLabels, label(component)))
  if (!found) throw new Error(`no NetworkPolicy selects the ${component} pods`)
  return found
}

function prefixLength (cidr: string): number {
  return Number(cidr.split('/')[1])
}

/** A peer narrower than a whole private range: a pod selector in this namespace, or an address block of at least /16 that is not a whole range. */
function narrow (peer: INetworkPolicyPeer): boolean {
  if (peer.ipBlock) return !WIDE.includes(peer.ipBlock.cidr) && prefixLength(peer.ipBlock.cidr) >= 16
  return Boolean(peer.podSelector?.matchLabels && Object.keys(peer.podSelector.matchLabels).length > 0 && !peer.namespaceSelector)
}

t.test('Redis and Sentinel require a login: protected mode on, the default user off, every other user and Sentinel given a password by init.sh', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { init, redisConf, usersAcl, initSh } = redisOf(objects)
    t.notMatch(redisConf, /^\s*protected-mode\s+no/m, `${overlay}: redis.conf never turns protected mode off`)
    t.match(redisConf, /^protected-mode yes$/m, `${overlay}: protected mode on`)
    t.match(redisConf, /^aclfile \/run\/redis\/users\.acl$/m, `${overlay}: the users come from the ACL file init.sh writes`)
    t.notMatch(initSh, /protected-mode no/, `${overlay}: nor does the Sentinel config`)
    t.match(initSh, /^requirepass \$REDIS_SENTINEL_PASSWORD$/m, `${overlay}: the Sentinels require a password`)
    const users = [...usersAcl.matchAll(/^user (\S+) (.*)$/gm)].map((m) => ({ name: m[1]!, rules: m[2]! }))
    t.match(users.find((u) => u.name === 'default')?.rules ?? '', /^off resetpass\b/, `${overlay}: the default user is off and has no password`)
    t.notMatch(usersAcl, /\bnopass\b/, `${overlay}: no user without a password`)
    for (const variable of [...users.filter((u) => u.name !== 'default').map((u) => `REDIS_${u.name.toUpperCase()}_PASSWORD`), 'REDIS_SENTINEL_PASSWORD']) {
      const source = fromSecret(init, variable)
      t.ok(source, `${overlay}: init.sh gets ${variable} from a Secret`)
      t.ok(source && secretKeys(named<ISecret>(objects, 'Secret', source.name)).includes(source.key), `${overlay}: the Secret has ${source?.key}`)
    }
  }
})

t.test('every password and token reaches its container from a Secret through env, never as a literal', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    for (const { owner, template } of podTemplates(objects)) {
      for (const container of [...template.spec!.containers, ...(template.spec!.initContainers ?? [])]) {
        for (const variable of container.env ?? []) {
          if (!/PASSWORD|TOKEN|SECRET/.test(variable.name)) continue
          t.equal(variable.value, undefined, `${overlay}: ${owner.metadata.name}/${container.name} ${variable.name} is no literal`)
          t.ok(fromSecret(container, variable.name), `${overlay}: ${owner.metadata.name}/${container.name} ${variable.name} comes from a Secret`)
        }
      }
    }
    for (const map of ofKind<IConfigMap>(objects, 'ConfigMap')) {
      t.notOk(Object.keys(map.data ?? {}).some((key) => /PASSWORD|TOKEN|SECRET/.test(key)), `${overlay}: ConfigMap ${map.metadata!.name} holds no secret`)
    }
  }
})

t.test('the gateway logs in to its Redis, its Sentinels and its peer with the passwords Redis was given, and trusts the peer\'s CA', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { pod, container } = gatewayOf(objects)
    const { init, usersAcl } = redisOf(objects)
    const redis = gatewayConfig(objects).config.store.redis!
    /** The gateway's variable that a resolved value came from (gateway.ts fills Secret variables with dummySecret). */
    const variableOf = (value: string | undefined) => container.env?.find((e) => value === dummySecret(e.name))?.name ?? ''
    t.equal(redis.username, 'gateway', `${overlay}: the gateway logs in as user gateway`)
    t.match(usersAcl, /^user gateway on /m, `${overlay}: which Redis knows`)
    t.same(fromSecret(container, variableOf(redis.password)), fromSecret(init, 'REDIS_GATEWAY_PASSWORD'), `${overlay}: with the password Redis gives user gateway`)
    t.same(fromSecret(container, variableOf(redis.sentinelPassword)), fromSecret(init, 'REDIS_SENTINEL_PASSWORD'), `${overlay}: and the Sentinels' own`)
    t.ok(redis.peers?.length, `${overlay}: it has peers`)
    for (const peer of redis.peers ?? []) {
      const url = new URL(peer)
      t.equal(url.protocol, 'rediss:', `${overlay}: the peer link is TLS`)
      t.equal(url.username, 'gateway', `${overlay}: logged in as the other region's user gateway`)
      const source = fromSecret(container, variableOf(decodeURIComponent(url.password)))
      t.ok(source && secretKeys(named<ISecret>(objects, 'Secret', source.name)).includes(source.key), `${overlay}: with a password from a Secret (${source?.key})`)
    }
    const ca = redis.tls?.ca
    t.ok(ca, `${overlay}: store.redis.tls.ca is set`)
    const mounted = ca ? mountedAt(pod, container, ca) : undefined
    t.ok(mounted && objects.some((o) => o.kind === mounted.kind && o.metadata.name === mounted.name), `${overlay}: the CA file is mounted from the render (${mounted?.kind} ${mounted?.name})`)
  }
})

t.test('the peer proxy serves TLS with the certificate from a Secret and checks each Redis as user probe with the password Redis was given', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const proxy = deploymentOf(objects, 'redis-peer')
    const pod = proxy.spec!.template.spec!
    const container = pod.containers[0]!
    const { init } = redisOf(objects)
    const configVolume = pod.volumes?.find((v) => v.configMap)
    const haproxy = named<IConfigMap>(objects, 'ConfigMap', configVolume!.configMap!.name!).data?.['haproxy.cfg'] ?? ''
    const certificate = /^\s*bind :6379 ssl crt (\S+)$/m.exec(haproxy)?.[1]
    t.ok(certificate, `${overlay}: the Redis port is TLS only`)
    // The Secret's items name the files: tls.crt as the certificate, tls.key beside it as <certificate>.key.
    const mount = container.volumeMounts?.find((m) => certificate?.startsWith(`${m.mountPath}/`))
    const secret = pod.volumes?.find((v) => v.name === mount?.name)?.secret
    const file = (key: string) => secret?.items?.find((i) => i.key === key)?.path
    t.equal(certificate, `${mount?.mountPath}/${file('tls.crt')}`, `${overlay}: the certificate is the Secret's tls.crt`)
    t.equal(`${certificate}.key`, `${mount?.mountPath}/${file('tls.key')}`, `${overlay}: its key is the Secret's tls.key`)
    t.ok(secret?.secretName && objects.some((o) => o.kind === 'Secret' && o.metadata.name === secret.secretName), `${overlay}: that Secret is in the render`)
    t.match(haproxy, /^\s*tcp-check send "AUTH probe \$\{REDIS_PROBE_PASSWORD\}\\r\\n"\n\s*tcp-check expect string \+OK$/m, `${overlay}: the master check logs in as probe first`)
    t.same(fromSecret(container, 'REDIS_PROBE_PASSWORD'), fromSecret(init, 'REDIS_PROBE_PASSWORD'), `${overlay}: with the password Redis gives user probe`)
  }
})

t.test('no NetworkPolicy opens Redis, Sentinel or the peer proxy to a whole private range', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    for (const component of ['redis', 'redis-peer']) {
      const rules = policyOf(objects, component).spec?.ingress ?? []
      for (const rule of rules) {
        t.ok(rule.from?.length, `${overlay}: every rule into ${component} names who`)
        for (const peer of rule.from ?? []) t.ok(narrow(peer), `${overlay}: ${component} admits ${JSON.stringify(peer)}, narrower than a private range`)
      }
    }
    const peerRules = policyOf(objects, 'redis-peer').spec?.ingress ?? []
    t.ok(peerRules.some((rule) => rule.from?.some((p) => p.ipBlock)), `${overlay}: the other region's gateways are let in to the peer proxy`)
    t.ok(peerRules.every((rule) => rule.ports?.every((p) => p.port === 'redis')), `${overlay}: on its Redis port only`)
    for (const rule of policyOf(objects, 'gateway').spec?.egress ?? []) {
      if (!rule.ports?.some((p) => p.port === 6379 || p.port === 26379)) continue
      for (const peer of rule.to ?? []) t.ok(narrow(peer), `${overlay}: the gateway reaches Redis at ${JSON.stringify(peer)}, not a whole range`)
    }
  }
})

t.test('every NetworkPolicy sends DNS to the cluster DNS only, and the gateway reaches nothing in the cluster but its Redis', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    for (const policy of ofKind<INetworkPolicy>(objects, 'NetworkPolicy')) {
      const id = `${overlay}: ${policy.metadata!.name}`
      for (const rule of policy.spec?.egress ?? []) {
        t.ok(rule.to?.length, `${id}: every egress rule names where to`)
        if (!rule.ports?.some((p) => p.port === 53)) continue
        for (const peer of rule.to ?? []) {
          t.same(peer.namespaceSelector?.matchLabels, DNS.namespace, `${id}: DNS goes to kube-system`)
          t.same(peer.podSelector?.matchLabels, DNS.pods, `${id}: to the kube-dns pods only`)
        }
      }
    }
    const egress = policyOf(objects, 'gateway').spec?.egress ?? []
    const ports = new Set(egress.flatMap((rule) => (rule.ports ?? []).map((p) => p.port)))
    t.same([...ports].sort(), [26379, 443, 53, 6379], `${overlay}: the gateway's egress is DNS, Redis, Sentinel and HTTPS`)
    for (const rule of egress.filter((r) => r.ports?.some((p) => p.port === 443))) {
      for (const peer of rule.to ?? []) {
        t.ok(peer.ipBlock, `${overlay}: HTTPS goes to address blocks, not to pods of the cluster`)
        const kept = NOT_UPSTREAMS[peer.ipBlock?.cidr ?? '']
        if (kept) t.same(kept.filter((range) => !peer.ipBlock?.except?.includes(range)), [], `${overlay}: HTTPS to ${peer.ipBlock?.cidr} keeps out ${kept.join(', ')}`)
        else t.notOk(WIDE.includes(peer.ipBlock?.cidr ?? ''), `${overlay}: HTTPS to ${peer.ipBlock?.cidr}, not a private range`)
      }
    }
  }
})
