import { readFile } from 'node:fs/promises'
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet'
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort'
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import type { IContainerPort } from 'kubernetes-models/v1/ContainerPort'
import type { ISecret } from 'kubernetes-models/v1/Secret'
import type { IService } from 'kubernetes-models/v1/Service'
import t from 'tap'
import { requireTool } from '../helpers/tools.js'
import { declares, gatewayConfig, gatewayOf, mountedAt, probePort, secretKeys } from './gateway.js'
import { CUSTOM_KINDS, bytes, kustomizeProblem, named, ofKind, podTemplates, references, renderOverlays, selects, validateAgainstSchema, type K8sObject } from './render.js'

/** plugins/server.ts `requestTimeout`: how long an in-flight request may still run once the drain is over. */
const REQUEST_TIMEOUT_SECONDS = 30
const REDIS_LABELS = { 'app.kubernetes.io/name': 'understudy', 'app.kubernetes.io/component': 'redis' }
const EXPECTED_ALERTS = [
  'GatewayDown', 'GatewayNotReady', 'UpstreamDown', 'UpstreamRegionDown', 'BreakerFlapping', 'UpstreamLatencyP99Rising',
  'StaleMetadataServed', 'RevalidationsFailing', 'StoreErrors', 'RevocationFailOpen', 'PeerWritesDropped',
  'CachedLoginShareRising', 'UnavailableLogins',
]

const skip = requireTool('kubectl', await kustomizeProblem())
const overlays = skip === false ? await renderOverlays() : new Map<string, K8sObject[]>()

function admits (rulePorts: INetworkPolicyPort[] | undefined, port: IContainerPort): boolean {
  return (rulePorts ?? []).some((p) => p.port === port.name || p.port === port.containerPort)
}

/** The anchors GitHub gives the headings of a Markdown file. */
function headingAnchors (markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '')
  return new Set([...withoutCode.matchAll(/^#{1,6} +(.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')))
}

t.test('every overlay renders and each object is valid against its Kubernetes schema', { skip }, async (t) => {
  t.ok(overlays.size >= 2, 'there are overlays for at least two regions')
  for (const [overlay, objects] of overlays) {
    t.ok(objects.length > 0, `${overlay} renders`)
    for (const object of objects) {
      const id = `${overlay}: ${object.kind} ${object.metadata.name}`
      if (CUSTOM_KINDS.has(`${object.apiVersion}/${object.kind}`)) continue
      try {
        await validateAgainstSchema(object)
        t.pass(id)
      } catch (err) {
        t.fail(`${id}: ${(err as Error).message}`)
      }
    }
  }
})

t.test('every ConfigMap and Secret a pod refers to is in the render', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    for (const { owner, template } of podTemplates(objects)) {
      for (const { kind, name } of references(template.spec!)) {
        t.ok(objects.some((o) => o.kind === kind && o.metadata.name === name), `${overlay}: ${owner.kind} ${owner.metadata.name} finds ${kind} ${name}`)
      }
    }
  }
})

t.test('the gateway probes /livez and /readyz on a port its container declares', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { container } = gatewayOf(objects)
    t.equal(container.startupProbe?.httpGet?.path, '/livez', `${overlay}: startupProbe`)
    t.equal(container.livenessProbe?.httpGet?.path, '/livez', `${overlay}: livenessProbe`)
    t.equal(container.readinessProbe?.httpGet?.path, '/readyz', `${overlay}: readinessProbe`)
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      t.ok(declares(container.ports, probePort(probe)), `${overlay}: probe port ${probePort(probe)} is a declared container port`)
    }
  }
})

t.test('every probe and every Service port points at a port its pods declare', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const templates = podTemplates(objects)
    for (const { owner, template } of templates) {
      for (const container of [...template.spec!.containers, ...(template.spec!.initContainers ?? [])]) {
        for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
          if (probe && !probe.exec) t.ok(declares(container.ports, probePort(probe)), `${overlay}: ${owner.metadata.name}/${container.name} probes declared port ${probePort(probe)}`)
        }
      }
    }
    for (const service of ofKind<IService>(objects, 'Service')) {
      const pods = templates.filter(({ template }) => selects(service.spec?.selector, template.metadata?.labels))
      t.ok(pods.length > 0, `${overlay}: Service ${service.metadata!.name} selects pods`)
      for (const port of service.spec?.ports ?? []) {
        const target = port.targetPort ?? port.port
        const found = pods.some(({ template }) => template.spec!.containers.some((c) => declares(c.ports, target)))
        t.ok(found, `${overlay}: Service ${service.metadata!.name} port ${port.name} targets a declared port (${target})`)
      }
    }
  }
})

t.test('the gateway runs at least three replicas spread across zones and hosts', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { deployment, pod } = gatewayOf(objects)
    t.ok((deployment.spec?.replicas ?? 1) >= 3, `${overlay}: replicas ${deployment.spec?.replicas} >= 3`)
    for (const key of ['topology.kubernetes.io/zone', 'kubernetes.io/hostname']) {
      const constraint = pod.topologySpreadConstraints?.find((c) => c.topologyKey === key)
      t.ok(constraint, `${overlay}: spread across ${key}`)
      t.ok(selects(constraint?.labelSelector?.matchLabels, deployment.spec!.template.metadata!.labels), `${overlay}: the ${key} spread counts the gateway pods`)
    }
  }
})

t.test('a PodDisruptionBudget selects the gateway pods and lets one go at a time', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { deployment } = gatewayOf(objects)
    const labels = deployment.spec!.template.metadata!.labels
    const pdbs = ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').filter((p) => selects(p.spec?.selector?.matchLabels, labels))
    t.equal(pdbs.length, 1, `${overlay}: exactly one PodDisruptionBudget selects the gateway pods`)
    const spec = pdbs[0]?.spec
    const allowsEviction = spec?.maxUnavailable !== undefined ? Number(spec.maxUnavailable) >= 1 : Number(spec?.minAvailable) < (deployment.spec?.replicas ?? 1)
    t.ok(allowsEviction, `${overlay}: the budget still lets a node drain`)
  }
})

t.test('the HorizontalPodAutoscaler scales the gateway Deployment on CPU from at least three', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { deployment } = gatewayOf(objects)
    const hpas = ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler')
    const hpa = hpas.find((h) => h.spec?.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === deployment.metadata!.name)
    t.ok(hpa, `${overlay}: an autoscaler targets Deployment ${deployment.metadata!.name}`)
    t.equal(hpa?.apiVersion, 'autoscaling/v2')
    t.equal(hpa?.spec?.scaleTargetRef.apiVersion, 'apps/v1')
    t.ok((hpa?.spec?.minReplicas ?? 1) >= 3, `${overlay}: minReplicas >= 3`)
    t.ok(hpa?.spec?.metrics?.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu'), `${overlay}: scales on CPU`)
  }
})

t.test('every pod runs as non-root with a read-only root filesystem, no capabilities and the runtime seccomp profile', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    for (const { owner, template } of podTemplates(objects)) {
      const pod = template.spec!
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const id = `${overlay}: ${owner.metadata.name}/${c.name}`
        const sc = c.securityContext ?? {}
        t.equal(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, true, `${id} runAsNonRoot`)
        t.not(sc.runAsUser ?? pod.securityContext?.runAsUser, 0, `${id} is not uid 0`)
        t.equal(sc.readOnlyRootFilesystem, true, `${id} readOnlyRootFilesystem`)
        t.equal(sc.allowPrivilegeEscalation, false, `${id} allowPrivilegeEscalation false`)
        t.ok(sc.capabilities?.drop?.includes('ALL'), `${id} drops ALL capabilities`)
        t.notOk(sc.capabilities?.add?.length, `${id} adds no capability`)
        t.equal((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type, 'RuntimeDefault', `${id} seccomp RuntimeDefault`)
        t.ok(c.resources?.limits?.memory, `${id} has a memory limit`)
      }
    }
  }
})

t.test('the gateway heap is capped below its memory limit of at most 256Mi', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { container } = gatewayOf(objects)
    const limit = bytes(String(container.resources?.limits?.memory))
    const heapMb = Number(/--max-old-space-size=(\d+)/.exec(container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1])
    t.ok(limit <= 256 * 2 ** 20, `${overlay}: memory limit ${container.resources?.limits?.memory}`)
    t.ok(heapMb * 2 ** 20 < limit * 0.75, `${overlay}: --max-old-space-size=${heapMb} leaves room below the limit`)
  }
})

t.test('the termination grace period outlasts the drain delay plus the request timeout', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { pod } = gatewayOf(objects)
    const { config } = gatewayConfig(objects)
    t.ok(config.shutdown.drainDelay > 0, `${overlay}: shutdown.drainDelay is set (${config.shutdown.drainDelay}s)`)
    t.ok((pod.terminationGracePeriodSeconds ?? 30) > config.shutdown.drainDelay + REQUEST_TIMEOUT_SECONDS,
      `${overlay}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > ${config.shutdown.drainDelay} + ${REQUEST_TIMEOUT_SECONDS}`)
  }
})

t.test("the config in the ConfigMap passes the gateway's own validator", { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    t.doesNotThrow(() => gatewayConfig(objects), `${overlay}: valid config`)
  }
})

t.test('the config listens on the declared ports and reads its keys from the keys Secret', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { pod, container } = gatewayOf(objects)
    const { keys, config } = gatewayConfig(objects)
    t.equal(declares(container.ports, 'http')?.containerPort, config.listen.port, `${overlay}: port http is listen.port`)
    t.equal(declares(container.ports, 'admin')?.containerPort, config.admin.port, `${overlay}: port admin is admin.port`)
    t.equal(config.admin.host, '0.0.0.0', `${overlay}: the admin port is reachable from the kubelet and Prometheus`)
    t.ok(config.admin.token, `${overlay}: admin.token is set`)
    for (const [which, path] of Object.entries(keys)) {
      const source = mountedAt(pod, container, path)
      t.equal(source?.kind, 'Secret', `${overlay}: keys.${which} (${path}) is mounted from a Secret`)
      const secret = source && named<ISecret>(objects, 'Secret', source.name)
      t.ok(secret && secretKeys(secret).includes(source.key), `${overlay}: the Secret has ${source?.key}`)
      const mount = container.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`))
      t.equal(mount?.readOnly, true, `${overlay}: keys are mounted read-only`)
    }
  }
})

t.test("each overlay has its own region and peers with the other regions' Redis", { skip }, async (t) => {
  const regions = [...overlays].map(([overlay, objects]) => ({ overlay, objects, namespace: gatewayOf(objects).deployment.metadata!.namespace, config: gatewayConfig(objects).config }))
  t.equal(new Set(regions.map((r) => r.config.region)).size, regions.length, 'every overlay names a different region')
  t.equal(new Set(regions.map((r) => r.namespace)).size, regions.length, 'every overlay has its own namespace')
  t.equal(new Set(regions.map((r) => r.config.issuer)).size, 1, 'every region has the same issuer')
  for (const region of regions) {
    const { deployment } = gatewayOf(region.objects)
    t.equal(deployment.spec!.template.metadata!.labels!['understudy.dev/region'], region.config.region, `${region.overlay}: the pods are labelled with the config's region`)
    const peers = region.config.store.redis?.peers ?? []
    const others = regions.filter((r) => r !== region)
    t.same(peers.map((p) => new URL(p).hostname.split('.')[1]).sort(), others.map((r) => r.namespace).sort(), `${region.overlay} peers with every other region and not itself`)
    for (const peer of peers) {
      const url = new URL(peer)
      const [serviceName, namespace] = url.hostname.split('.')
      const other = others.find((r) => r.namespace === namespace)
      const service = other?.objects.find((o) => o.kind === 'Service' && o.metadata.name === serviceName) as IService | undefined
      t.ok(service?.spec?.ports?.some((p) => p.port === Number(url.port || 6379)), `${region.overlay}: ${peer} is a Service port of ${other?.overlay}`)
    }
  }
})

t.test('each region runs three Redis pods with Sentinel behind a headless Service that the config names', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const sts = ofKind<IStatefulSet>(objects, 'StatefulSet').find((s) => selects(REDIS_LABELS, s.spec?.template.metadata?.labels))
    t.ok(sts, `${overlay}: a Redis StatefulSet`)
    if (!sts) continue
    const spec = sts.spec!
    const containers = spec.template.spec!.containers
    t.equal(spec.replicas, 3, `${overlay}: three Redis pods (Sentinel quorum 2)`)
    t.same(containers.map((c) => c.name).sort(), ['redis', 'sentinel'], `${overlay}: Redis and Sentinel in each pod`)
    const headless = named<IService>(objects, 'Service', spec.serviceName!)
    t.equal(headless.spec?.clusterIP, 'None', `${overlay}: ${spec.serviceName} is headless`)
    t.ok(selects(headless.spec?.selector, spec.template.metadata?.labels), `${overlay}: it selects the Redis pods`)
    const sentinelPort = declares(containers.find((c) => c.name === 'sentinel')?.ports, 'sentinel')?.containerPort
    const names = Array.from({ length: spec.replicas ?? 0 }, (_, i) => ({ host: `${sts.metadata!.name}-${i}.${spec.serviceName}`, port: sentinelPort }))
    const { config } = gatewayConfig(objects)
    t.same(config.store.redis?.sentinels, names, `${overlay}: the config asks every Sentinel`)
    const masterName = spec.template.spec!.initContainers?.flatMap((c) => c.env ?? []).find((e) => e.name === 'MASTER_NAME')?.value
    t.equal(config.store.redis?.name, masterName, `${overlay}: the config names the monitored master`)
  }
})

t.test('the NetworkPolicy admits the public port from anywhere and the admin port from monitoring only', { skip }, async (t) => {
  for (const [overlay, objects] of overlays) {
    const { deployment, container } = gatewayOf(objects)
    const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy').filter((p) => selects(p.spec?.podSelector.matchLabels, deployment.spec!.template.metadata!.labels))
    t.equal(policies.length, 1, `${overlay}: one NetworkPolicy for the gateway`)
    const policy = policies[0]!.spec!
    t.same([...(policy.policyTypes ?? [])].sort(), ['Egress', 'Ingress'], `${overlay}: ingress and egress are both restricted`)
    const http = declares(container.ports, 'http')!
    const admin = declares(container.ports, 'admin')!
    t.ok(policy.ingress?.some((rule) => !rule.from?.length && admits(rule.ports, http)), `${overlay}: the public port is open to all`)
    const adminRules = policy.ingress?.filter((rule) => admits(rule.ports, admin)) ?? []
    t.ok(adminRules.length > 0, `${overlay}: the admin port is reachable from somewhere`)
    for (const rule of adminRules) {
      t.ok(rule.from?.length, `${overlay}: the admin port is not open to all`)
      for (const peer of rule.from ?? []) {
        t.same(peer.namespaceSelector?.matchLabels, { 'kubernetes.io/metadata.name': 'monitoring' }, `${overlay}: only the monitoring namespace reaches the admin port`)
        t.notOk(peer.ipBlock ?? peer.podSelector, `${overlay}: and nothing else`)
      }
    }
    const egress = (policy.egress ?? []).flatMap((rule) => rule.ports ?? [])
    for (const [port, protocol] of [[53, 'UDP'], [53, 'TCP'], [443, 'TCP'], [6379, 'TCP'], [26379, 'TCP']] as const) {
      t.ok(egress.some((p) => p.port === port && (p.protocol ?? 'TCP') === protocol), `${overlay}: egress to ${port}/${protocol}`)
    }
  }
})

t.test('the PrometheusRule gives every alert an expr, a for, a severity, a summary and a runbook in docs/operations.md', { skip }, async (t) => {
  const anchors = headingAnchors(await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8'))
  interface Rule { alert?: string, expr?: string, for?: string, labels?: { severity?: string }, annotations?: { summary?: string, runbook_url?: string } }
  for (const [overlay, objects] of overlays) {
    const rules = objects.filter((o) => o.kind === 'PrometheusRule') as unknown as Array<{ spec: { groups: Array<{ name: string, rules: Rule[] }> } }>
    t.equal(rules.length, 1, `${overlay}: one PrometheusRule`)
    const groups = rules[0]?.spec.groups ?? []
    const alerts = groups.flatMap((g) => g.rules)
    t.ok(groups.every((g) => typeof g.name === 'string' && g.rules.length > 0), `${overlay}: every group has a name and rules`)
    t.equal(new Set(alerts.map((a) => a.alert)).size, alerts.length, `${overlay}: alert names are unique`)
    for (const name of EXPECTED_ALERTS) t.ok(alerts.some((a) => a.alert === name), `${overlay}: alert ${name}`)
    for (const rule of alerts) {
      t.match(rule, {
        alert: /^[A-Z][A-Za-z0-9]+$/,
        expr: /\S/,
        for: /^\d+[smh]$/,
        labels: { severity: /^(critical|warning|info)$/ },
        annotations: { summary: /\S/, runbook_url: /^https:\/\/\S+\/docs\/operations\.md#[a-z0-9-]+$/ },
      }, `${overlay}: ${rule.alert ?? 'a rule'} is complete`)
      const anchor = rule.annotations?.runbook_url?.split('#')[1] ?? ''
      t.ok(anchors.has(anchor), `${overlay}: docs/operations.md has the runbook #${anchor}`)
    }
  }
})

t.test('the ServiceMonitor scrapes /metrics from the admin Service', { skip }, async (t) => {
  interface ServiceMonitor { spec: { selector: { matchLabels: Record<string, string> }, endpoints: Array<{ port: string, path?: string }> } }
  for (const [overlay, objects] of overlays) {
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor') as unknown as ServiceMonitor[]
    t.equal(monitors.length, 1, `${overlay}: one ServiceMonitor`)
    const monitor = monitors[0]!.spec
    const services = ofKind<IService>(objects, 'Service').filter((s) => selects(monitor.selector.matchLabels, s.metadata?.labels))
    t.same(services.map((s) => s.metadata!.name), ['understudy-admin'], `${overlay}: it selects the admin Service only`)
    for (const endpoint of monitor.endpoints) {
      t.equal(endpoint.path, '/metrics', `${overlay}: path /metrics`)
      t.ok(services[0]?.spec?.ports?.some((p) => p.name === endpoint.port), `${overlay}: port ${endpoint.port} is a port of the admin Service`)
    }
  }
})
