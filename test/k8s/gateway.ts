import { fileURLToPath } from 'node:url'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap'
import type { IContainer } from 'kubernetes-models/v1/Container'
import type { IContainerPort } from 'kubernetes-models/v1/ContainerPort'
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec'
import type { IProbe } from 'kubernetes-models/v1/Probe'
import type { ISecret } from 'kubernetes-models/v1/Secret'
import { parse } from 'yaml'
import { ConfigError, validateConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/resolve.js'
import { named, ofKind, selects, type K8sObject } from './render.js'

/** The gateway's pods: what the Deployment selects. */
const GATEWAY_LABELS = { 'app.kubernetes.io/name': 'understudy', 'app.kubernetes.io/component': 'gateway' }
const DEV_KEYS = {
  signing: fileURLToPath(new URL('../../certs/dev/signing.jwks.json', import.meta.url)),
  sealing: fileURLToPath(new URL('../../certs/dev/sealing.jwks.json', import.meta.url)),
}

interface Gateway { deployment: IDeployment, pod: IPodSpec, container: IContainer }

/** The gateway's Deployment, pod spec and container in a render. */
export function gatewayOf (objects: K8sObject[]): Gateway {
  const deployment = ofKind<IDeployment>(objects, 'Deployment').find((d) => selects(GATEWAY_LABELS, d.spec?.template.metadata?.labels))
  if (!deployment) throw new Error('no gateway Deployment in the render')
  const pod = deployment.spec!.template.spec!
  const container = pod.containers.find((c) => c.name === 'understudy')
  if (!container) throw new Error('the gateway Deployment has no container named understudy')
  return { deployment, pod, container }
}

/** Which ConfigMap or Secret key a container sees at `path`, through its volume mounts. */
export function mountedAt (pod: IPodSpec, container: IContainer, path: string): { kind: 'ConfigMap' | 'Secret', name: string, key: string } | undefined {
  for (const mount of container.volumeMounts ?? []) {
    const key = mount.subPath ? (mount.mountPath === path ? mount.subPath : undefined) : (path.startsWith(`${mount.mountPath}/`) ? path.slice(mount.mountPath.length + 1) : undefined)
    if (key === undefined) continue
    const volume = pod.volumes?.find((v) => v.name === mount.name)
    if (volume?.configMap?.name) return { kind: 'ConfigMap', name: volume.configMap.name, key }
    if (volume?.secret?.secretName) return { kind: 'Secret', name: volume.secret.secretName, key }
  }
  return undefined
}

/** The keys a Secret holds, in `data` or `stringData`. */
export function secretKeys (secret: ISecret): string[] {
  return [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})]
}

/** The stand-in for a Secret's variable `name`: as long as a real secret (the admin token needs 32 characters). */
export function dummySecret (name: string): string {
  return `dummy-${name.toLowerCase()}`.padEnd(40, '-')
}

/** The container's environment as the kubelet builds it; values from Secrets are dummies (the committed ones are placeholders). */
function containerEnv (objects: K8sObject[], container: IContainer): Record<string, string> {
  const env: Record<string, string> = {}
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, named<IConfigMap>(objects, 'ConfigMap', from.configMapRef.name!).data)
    if (from.secretRef) {
      for (const key of secretKeys(named<ISecret>(objects, 'Secret', from.secretRef.name!))) env[key] = dummySecret(key)
    }
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.configMapKeyRef
    if (variable.value !== undefined) env[variable.name] = variable.value
    else if (ref) env[variable.name] = named<IConfigMap>(objects, 'ConfigMap', ref.name!).data?.[ref.key] ?? ''
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = dummySecret(variable.name)
  }
  return env
}

/** The gateway's config file as the pod reads it, its key paths as written, and the config as the gateway resolves it (dev keys in place of the Secret's). */
export function gatewayConfig (objects: K8sObject[]): { file: string, keys: { signing: string, sealing: string }, config: Config } {
  const { pod, container } = gatewayOf(objects)
  const args = container.args ?? []
  const file = args[args.indexOf('--config') + 1]
  if (!args.includes('--config') || !file) throw new Error('the gateway is not started with --config FILE')
  const source = mountedAt(pod, container, file)
  if (source?.kind !== 'ConfigMap') throw new Error(`${file} is not mounted from a ConfigMap`)
  const raw = parse(named<IConfigMap>(objects, 'ConfigMap', source.name).data?.[source.key] ?? '') as { keys: { signing: string, sealing: string } }
  const keys = raw.keys
  try {
    return { file, keys, config: validateConfig({ ...raw, keys: DEV_KEYS }, { source: `ConfigMap ${source.name}`, env: containerEnv(objects, container) }) }
  } catch (err) {
    // The report lists every problem; the bare message only counts them.
    throw err instanceof ConfigError ? new Error(err.report()) : err
  }
}

/** The container port that `port` (a name or a number) refers to. */
export function declares (ports: IContainerPort[] | undefined, port: string | number | undefined): IContainerPort | undefined {
  return ports?.find((p) => (typeof port === 'string' ? p.name === port : p.containerPort === port))
}

/** The port a probe checks. */
export function probePort (probe: IProbe | undefined): string | number | undefined {
  return probe?.httpGet?.port ?? probe?.tcpSocket?.port ?? probe?.grpc?.port
}
