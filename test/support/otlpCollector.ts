/**
 * A small OTLP/HTTP collector for tests (node:http on 127.0.0.1, a free port): it takes
 * /v1/traces, /v1/metrics and /v1/logs in JSON (http/json) and keeps what they carry as plain
 * objects; a protobuf body is refused (415), so the processes under test export JSON. `until` waits
 * for what a test needs, woken by each request (no sleeps).
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A span as a collector sees it: ids in hex, attributes as plain values. */
export interface CollectedSpan {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly attributes: Readonly<Record<string, unknown>>
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes: Readonly<Record<string, unknown>> }>
  readonly links: ReadonlyArray<
    { readonly traceId: string; readonly spanId: string; readonly attributes: Readonly<Record<string, unknown>> }
  >
  /** 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string | undefined }
}

/** One data point of a metric. */
export interface CollectedPoint {
  readonly service: string
  readonly metric: string
  readonly type: "sum" | "gauge" | "histogram" | "other"
  readonly attributes: Readonly<Record<string, unknown>>
  /** The value of a sum or gauge; a histogram's count. */
  readonly value: number
}

/** A log record. */
export interface CollectedLog {
  readonly service: string
  readonly body: unknown
  readonly severity: string | undefined
  readonly traceId: string | undefined
  readonly spanId: string | undefined
  readonly attributes: Readonly<Record<string, unknown>>
}

/** A running collector. */
export interface Collector {
  /** The base URL to give `--otlp` or an exporter (`${url}/v1/traces`). */
  readonly url: string
  readonly spans: Array<CollectedSpan>
  readonly points: Array<CollectedPoint>
  readonly logs: Array<CollectedLog>
  /** Every request: path and content type, in arrival order. */
  readonly requests: Array<{ readonly path: string; readonly contentType: string }>
  /** Resolves once `check` holds (checked now and after each request); rejects after `timeoutMs`. */
  until(check: () => boolean, what: string, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

type Json = any

/** Starts a collector on 127.0.0.1, on a free port. */
export const startCollector = async (): Promise<Collector> => {
  const spans: Array<CollectedSpan> = []
  const points: Array<CollectedPoint> = []
  const logs: Array<CollectedLog> = []
  const requests: Array<{ path: string; contentType: string }> = []
  const waiters = new Set<() => void>()
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const path = req.url ?? ""
      const contentType = req.headers["content-type"] ?? ""
      requests.push({ path, contentType })
      if (!contentType.includes("json")) {
        res.writeHead(415).end()
      } else {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Json
        if (path === "/v1/traces") spans.push(...decodeSpans(body))
        else if (path === "/v1/metrics") points.push(...decodePoints(body))
        else if (path === "/v1/logs") logs.push(...decodeLogs(body))
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      }
      for (const wake of [...waiters]) wake()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    points,
    logs,
    requests,
    until: (check, what, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(wake)
          reject(new Error(`the collector did not get ${what} within ${timeoutMs} ms`))
        }, timeoutMs)
        const wake = () => {
          if (!check()) return
          clearTimeout(timer)
          waiters.delete(wake)
          resolve()
        }
        waiters.add(wake)
        wake()
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** The service.name of a resource. */
const serviceOf = (resource: Json): string => String(attributesOf(resource?.attributes)["service.name"] ?? "")

const decodeSpans = (body: Json): Array<CollectedSpan> =>
  (body.resourceSpans ?? []).flatMap((rs: Json) =>
    (rs.scopeSpans ?? []).flatMap((ss: Json) =>
      (ss.spans ?? []).map((span: Json): CollectedSpan => ({
        service: serviceOf(rs.resource),
        traceId: hex(span.traceId)!,
        spanId: hex(span.spanId)!,
        parentSpanId: hex(span.parentSpanId),
        name: span.name,
        attributes: attributesOf(span.attributes),
        events: (span.events ?? []).map((event: Json) => ({
          name: event.name,
          attributes: attributesOf(event.attributes)
        })),
        links: (span.links ?? []).map((link: Json) => ({
          traceId: hex(link.traceId)!,
          spanId: hex(link.spanId)!,
          attributes: attributesOf(link.attributes)
        })),
        status: { code: Number(span.status?.code ?? 0), message: span.status?.message || undefined }
      }))
    )
  )

const decodePoints = (body: Json): Array<CollectedPoint> =>
  (body.resourceMetrics ?? []).flatMap((rm: Json) =>
    (rm.scopeMetrics ?? []).flatMap((sm: Json) =>
      (sm.metrics ?? []).flatMap((metric: Json) => {
        const type = metric.sum ? "sum" : metric.gauge ? "gauge" : metric.histogram ? "histogram" : "other"
        const data = metric.sum ?? metric.gauge ?? metric.histogram ?? {}
        return (data.dataPoints ?? []).map((point: Json): CollectedPoint => ({
          service: serviceOf(rm.resource),
          metric: metric.name,
          type,
          attributes: attributesOf(point.attributes),
          value: Number(point.asInt ?? point.asDouble ?? point.count ?? 0)
        }))
      })
    )
  )

const decodeLogs = (body: Json): Array<CollectedLog> =>
  (body.resourceLogs ?? []).flatMap((rl: Json) =>
    (rl.scopeLogs ?? []).flatMap((sl: Json) =>
      (sl.logRecords ?? []).map((record: Json): CollectedLog => ({
        service: serviceOf(rl.resource),
        body: valueOf(record.body),
        severity: record.severityText || undefined,
        traceId: hex(record.traceId),
        spanId: hex(record.spanId),
        attributes: attributesOf(record.attributes)
      }))
    )
  )

/** An id as hex: OTLP/JSON writes hex, some exporters base64; empty is none. */
const hex = (id: unknown): string | undefined => {
  if (typeof id !== "string" || id === "") return undefined
  if (/^[0-9a-f]+$/i.test(id) && (id.length === 32 || id.length === 16)) return id.toLowerCase()
  const decoded = Buffer.from(id, "base64").toString("hex")
  return /^0+$/.test(decoded) ? undefined : decoded
}

const attributesOf = (list: Json): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv: Json) => [kv.key, valueOf(kv.value)]))

/** An OTLP AnyValue as a plain value. */
const valueOf = (value: Json): unknown => {
  if (value === undefined || value === null) return undefined
  if ("stringValue" in value) return value.stringValue
  if ("boolValue" in value) return value.boolValue
  if ("intValue" in value) return Number(value.intValue)
  if ("doubleValue" in value) return Number(value.doubleValue)
  if ("arrayValue" in value) return (value.arrayValue.values ?? []).map(valueOf)
  if ("kvlistValue" in value) return attributesOf(value.kvlistValue.values)
  if ("bytesValue" in value) return value.bytesValue
  return undefined
}
