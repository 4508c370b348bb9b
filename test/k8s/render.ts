import { execFile } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec'
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec'
import { parseAllDocuments } from 'yaml'

const run = promisify(execFile)

/** The repository's k8s/ folder. */
export const K8S = new URL('../../k8s/', import.meta.url)

/** Any rendered object; tests narrow it by `kind` with `ofKind`. */
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string> }
}

/** The custom resources (Prometheus Operator) that kubernetes-models has no schema for; their tests check them by hand. */
export const CUSTOM_KINDS = new Set(['monitoring.coreos.com/v1/PrometheusRule', 'monitoring.coreos.com/v1/ServiceMonitor'])

/** Why the manifests cannot be rendered on this machine, or undefined when they can. */
export async function kustomizeProblem (): Promise<string | undefined> {
  let out: string
  try {
    out = (await run('kubectl', ['version', '--client'])).stdout
  } catch {
    return 'kubectl is not installed, so k8s/ cannot be rendered (kubectl 1.27 or later is needed; Debian has no package for it)'
  }
  // `labels` with includeTemplates needs kustomize v5 (kubectl 1.27 or later).
  const major = /Kustomize Version: v(\d+)/.exec(out)?.[1]
  if (major === undefined || Number(major) < 5) return `kubectl's kustomize is too old for k8s/ (v5 or later needed); kubectl says: ${out.trim().replace(/\s+/g, ' ')}`
  return undefined
}

/** Every overlay under k8s/overlays, rendered by `kubectl kustomize` and parsed, by overlay name. */
export async function renderOverlays (): Promise<Map<string, K8sObject[]>> {
  const dirs = await readdir(new URL('overlays/', K8S), { withFileTypes: true })
  const names = dirs.filter((d) => d.isDirectory()).map((d) => d.name).sort()
  // Every test loops over the overlays: with none, each would pass having checked nothing.
  if (names.length === 0) throw new Error('no overlay under k8s/overlays')
  const rendered = await Promise.all(names.map(async (name) => {
    const { stdout } = await run('kubectl', ['kustomize', fileURLToPath(new URL(`overlays/${name}`, K8S))], { maxBuffer: 16 * 1024 * 1024 })
    const objects = parseAllDocuments(stdout).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${name}: kustomize printed invalid YAML: ${doc.errors[0]!.message}`)
      return doc.toJS() as K8sObject
    })
    return [name, objects] as const
  }))
  return new Map(rendered)
}

type Model = new (data: object) => { validate (): void }

/** Validates one object against its Kubernetes schema (kubernetes-models); throws with every violation. */
export async function validateAgainstSchema (object: K8sObject): Promise<void> {
  let module: Record<string, Model | undefined>
  try {
    module = await import(`kubernetes-models/${object.apiVersion}/${object.kind}`) as Record<string, Model | undefined>
  } catch {
    throw new Error(`no Kubernetes schema for ${object.apiVersion} ${object.kind}`)
  }
  const ModelClass = module[object.kind]
  if (!ModelClass) throw new Error(`no Kubernetes schema for ${object.apiVersion} ${object.kind}`)
  new ModelClass(object).validate()
}

/** The objects of one kind, typed as its kubernetes-models interface. */
export function ofKind<T> (objects: K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as unknown as T[]
}

/** One object of a kind by name; throws when it is not rendered. */
export function named<T> (objects: K8sObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (!found) throw new Error(`no ${kind} ${name} in the render`)
  return found as unknown as T
}

/** Every pod template in the render (Deployments and StatefulSets), with its owner. */
export function podTemplates (objects: K8sObject[]): Array<{ owner: K8sObject, template: IPodTemplateSpec }> {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((owner) => ({ owner, template: (owner as unknown as { spec: { template: IPodTemplateSpec } }).spec.template }))
}

/** Every ConfigMap and Secret a pod spec names: in volumes, envFrom and env. */
export function references (pod: IPodSpec): Array<{ kind: 'ConfigMap' | 'Secret', name: string | undefined }> {
  const refs: Array<{ kind: 'ConfigMap' | 'Secret', name: string | undefined }> = []
  for (const volume of pod.volumes ?? []) {
    if (volume.configMap) refs.push({ kind: 'ConfigMap', name: volume.configMap.name })
    if (volume.secret) refs.push({ kind: 'Secret', name: volume.secret.secretName })
  }
  for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef) refs.push({ kind: 'ConfigMap', name: from.configMapRef.name })
      if (from.secretRef) refs.push({ kind: 'Secret', name: from.secretRef.name })
    }
    for (const variable of container.env ?? []) {
      if (variable.valueFrom?.configMapKeyRef) refs.push({ kind: 'ConfigMap', name: variable.valueFrom.configMapKeyRef.name })
      if (variable.valueFrom?.secretKeyRef) refs.push({ kind: 'Secret', name: variable.valueFrom.secretKeyRef.name })
    }
  }
  return refs
}

/** Whether a label selector's matchLabels select pods with `labels`. */
export function selects (matchLabels: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!matchLabels || Object.keys(matchLabels).length === 0) return false
  return Object.entries(matchLabels).every(([key, value]) => labels?.[key] === value)
}

const UNITS: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }

/** A Kubernetes memory quantity (`256Mi`, `1G`, `1048576`) in bytes. */
export function bytes (quantity: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(String(quantity))
  if (!match) throw new Error(`not a memory quantity: ${quantity}`)
  return Number(match[1]) * UNITS[match[2] ?? '']!
}
