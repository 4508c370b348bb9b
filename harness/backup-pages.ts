import { readForm, type PageForm } from './browser.js'

/**
 * Reading the gateway's backup pages (the offer, the outage page, the
 * account page) as their script does: forms and buttons by element id, a
 * button's `data-*` attributes. The HTTP tests and the game day's synthetic
 * users both drive the pages through these.
 */

/** The form of `html` that has, or whose button has, element id `id`. */
export function formWith (html: string, baseUrl: string, id: string): PageForm {
  const markup = [...html.matchAll(/<form\b[\s\S]*?<\/form>/gi)].map((m) => m[0]).find((form) => form.includes(` id="${id}"`))
  if (markup === undefined) throw new Error(`no form with #${id} in ${html.slice(0, 300)}`)
  return readForm(markup, baseUrl)!
}

/** The `data-*` attributes of the element with id `id`, entities decoded. */
export function dataOf (html: string, id: string): Record<string, string> {
  const tag = new RegExp(`<[a-z]+\\b[^>]*\\bid="${id}"[^>]*>`, 'i').exec(html)?.[0]
  if (tag === undefined) throw new Error(`no element #${id} in ${html.slice(0, 300)}`)
  return Object.fromEntries([...tag.matchAll(/\bdata-([a-z-]+)="([^"]*)"/g)].map((m) => [m[1]!, decode(m[2]!)]))
}

/** Whether the page has an element with id `id`. */
export function hasElement (html: string, id: string): boolean {
  return html.includes(` id="${id}"`)
}

function decode (value: string): string {
  return value.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>')
}
