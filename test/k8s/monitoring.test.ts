import { readFile } from 'node:fs/promises'
import { Histogram } from 'prom-client'
import t from 'tap'
import { parse } from 'yaml'
import { Metrics } from '../../src/observability/metrics.js'

interface Target { expr: string, datasource?: { uid?: string } }
interface Panel { id: number, type: string, title: string, datasource?: { uid?: string }, targets?: Target[] }
interface Dashboard { __inputs: Array<{ name: string, type: string, pluginId: string }>, schemaVersion: number, uid: string, title: string, panels: Panel[] }
interface Rule { alert: string, expr: string }

/** Labels that scraping adds to every series (Prometheus, the ServiceMonitor's relabelling) rather than the gateway. */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'service', 'container', 'endpoint', 'gateway_region']
/** Series from other exporters that the alerts join with (kube-state-metrics, Prometheus itself). */
const FOREIGN = /^(kube_|up$)/
/** The gateway's own series: its metrics and prom-client's process defaults. */
const OWN = /^(understudy|process|nodejs)_/

const dashboard = JSON.parse(await readFile(new URL('../../docs/grafana/understudy.json', import.meta.url), 'utf8')) as Dashboard
const ruleFile = parse(await readFile(new URL('../../k8s/base/prometheus-rule.yaml', import.meta.url), 'utf8')) as { spec: { groups: Array<{ rules: Rule[] }> } }
const rules = ruleFile.spec.groups.flatMap((g) => g.rules)
const operations = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8')

/** Every metric the gateway exports, with its label names. */
const metrics = new Metrics().registry.getMetricsAsArray().map((m) => ({ name: m.name, histogram: m instanceof Histogram, labels: (m as unknown as { labelNames?: string[] }).labelNames ?? [] }))

/** Every series name the gateway exports (a histogram as its _bucket, _sum and _count) with its label names. */
const series = new Map(metrics.flatMap(({ name, histogram, labels }) => (histogram
  ? [[`${name}_bucket`, [...labels, 'le']], [`${name}_sum`, labels], [`${name}_count`, labels]] as Array<[string, string[]]>
  : [[name, labels]] as Array<[string, string[]]>)))

const panels = dashboard.panels.filter((p) => p.type !== 'row')
const queries = [
  ...panels.flatMap((p) => (p.targets ?? []).map((target) => ({ where: `dashboard panel "${p.title}"`, expr: target.expr }))),
  ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
]

t.test('the dashboard imports with a DS_PROMETHEUS data source input', async (t) => {
  t.match(dashboard.__inputs, [{ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }])
  t.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`)
  t.equal(dashboard.uid, 'understudy')
  t.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique')
  for (const panel of panels) {
    t.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', `"${panel.title}" uses the input`)
    t.ok(panel.targets?.length, `"${panel.title}" has queries`)
    t.ok(panel.targets?.every((target) => target.datasource?.uid === '${DS_PROMETHEUS}' && target.expr), `"${panel.title}" queries the input`)
  }
})

t.test('the dashboard charts every understudy metric and the process memory and event loop lag', async (t) => {
  const charted = panels.flatMap((p) => (p.targets ?? []).map((target) => target.expr)).join('\n')
  const wanted = metrics.filter((m) => m.name.startsWith('understudy_')).map((m) => (m.histogram ? `${m.name}_bucket` : m.name))
  for (const name of [...wanted, 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
    t.ok(new RegExp(`\\b${name}\\b`).test(charted), `a panel charts ${name}`)
  }
})

t.test('every metric and label that the dashboard and the alerts query is one the gateway exports', async (t) => {
  const known = new Set([...series.values()].flat().concat(TARGET_LABELS))
  t.ok(queries.length > 0, 'the dashboard and the alerts have queries')
  for (const { where, expr } of queries) {
    const text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
    for (const [name] of text.matchAll(/\b(understudy|process|nodejs)_[a-z0-9_]*/g)) t.ok(series.has(name), `${where}: the gateway exports ${name}`)
    for (const [, name, matchers] of text.matchAll(/\b([a-z_][a-z0-9_]*)\s*\{([^}]*)\}/g)) {
      if (!OWN.test(name!)) {
        t.match(name, FOREIGN, `${where}: ${name} comes from a known exporter`)
        continue
      }
      for (const [, label] of matchers!.matchAll(/([a-z_][a-z0-9_]*)\s*(=~|!~|!=|=)/g)) {
        t.ok(series.get(name!)?.includes(label!) || TARGET_LABELS.includes(label!), `${where}: ${name} has label ${label}`)
      }
    }
    for (const [, list] of text.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
      for (const label of list!.split(',').map((l) => l.trim()).filter(Boolean)) t.ok(known.has(label), `${where}: some series has label ${label}`)
    }
  }
})

t.test('the operations guide lists every understudy metric with its labels', async (t) => {
  const rows = operations.split('\n').filter((line) => line.startsWith('|'))
  const ours = metrics.filter((m) => m.name.startsWith('understudy_'))
  t.ok(ours.length > 0, 'the gateway exports understudy_ metrics')
  for (const { name, labels } of ours) {
    const row = rows.find((line) => line.includes(`\`${name}\``))
    t.ok(row, `docs/operations.md has a row for ${name}`)
    for (const label of labels) t.ok(row?.includes(`\`${label}\``), `its row names the label ${label}`)
  }
})
