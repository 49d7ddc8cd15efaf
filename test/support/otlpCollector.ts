/**
 * A small OTLP/HTTP collector for tests (node:http on 127.0.0.1, a free port): it takes
 * /v1/traces, /v1/metrics and /v1/logs in JSON (http/json) and keeps what they carry as plain
 * objects; in protobuf (http/protobuf) it decodes spans (a small wire-format reader below) and
 * accepts metrics and logs undecoded. `until` waits for what a test needs, woken by each request
 * (no sleeps).
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A span as a collector sees it: ids in hex, attributes as plain values. */
export interface CollectedSpan {
  readonly service: string
  /** Its resource's attributes (http/json only). */
  readonly resource?: Readonly<Record<string, unknown>>
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
  /**
   * Every request, in arrival order: path, content type, the status answered (400: a body it could
   * not decode; undefined: not answered, with `answer: false`), and whether the client gave up on it.
   */
  readonly requests: Array<CollectedRequest>
  /** Resolves once `check` holds (checked now and after each request); rejects after `timeoutMs`. */
  until(check: () => boolean, what: string, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

/** A request as the collector saw it. */
export interface CollectedRequest {
  readonly path: string
  readonly contentType: string
  status: number | undefined
  /** The client closed the connection before an answer. */
  abandoned: boolean
}

type Json = any

/**
 * Starts a collector on 127.0.0.1, on a free port. With `answer: false` it reads each request and
 * never answers (a collector or proxy that hangs).
 */
export const startCollector = async (options: { readonly answer?: boolean } = {}): Promise<Collector> => {
  const spans: Array<CollectedSpan> = []
  const points: Array<CollectedPoint> = []
  const logs: Array<CollectedLog> = []
  const requests: Array<CollectedRequest> = []
  const waiters = new Set<() => void>()
  const wakeAll = () => {
    for (const wake of [...waiters]) wake()
  }
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const request: CollectedRequest = {
        path: req.url ?? "",
        contentType: req.headers["content-type"] ?? "",
        status: undefined,
        abandoned: false
      }
      requests.push(request)
      if (options.answer === false) {
        res.once("close", () => {
          request.abandoned = true
          wakeAll()
        })
      } else {
        request.status = answer(request, Buffer.concat(chunks), { spans, points, logs })
        res.writeHead(request.status, { "content-type": request.contentType || "text/plain" }).end(
          request.status === 200 && request.contentType.includes("json") ? "{}" : undefined
        )
      }
      wakeAll()
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

/**
 * Decodes a request's body into what the collector keeps; the status to answer: 415 for an encoding
 * it does not take, 400 for a body it cannot decode (compressed, say), as a collector would.
 */
const answer = (
  request: CollectedRequest,
  body: Buffer,
  into: { spans: Array<CollectedSpan>; points: Array<CollectedPoint>; logs: Array<CollectedLog> }
): number => {
  try {
    if (request.contentType.includes("protobuf")) {
      if (request.path === "/v1/traces") into.spans.push(...decodeProtobufSpans(body))
      return 200
    }
    if (!request.contentType.includes("json")) return 415
    const json = JSON.parse(body.toString("utf8")) as Json
    if (request.path === "/v1/traces") into.spans.push(...decodeSpans(json))
    else if (request.path === "/v1/metrics") into.points.push(...decodePoints(json))
    else if (request.path === "/v1/logs") into.logs.push(...decodeLogs(json))
    return 200
  } catch {
    return 400
  }
}

/** The service.name of a resource. */
const serviceOf = (resource: Json): string => String(attributesOf(resource?.attributes)["service.name"] ?? "")

const decodeSpans = (body: Json): Array<CollectedSpan> =>
  (body.resourceSpans ?? []).flatMap((rs: Json) =>
    (rs.scopeSpans ?? []).flatMap((ss: Json) =>
      (ss.spans ?? []).map((span: Json): CollectedSpan => ({
        service: serviceOf(rs.resource),
        resource: attributesOf(rs.resource?.attributes),
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

// Protobuf: only what ExportTraceServiceRequest needs (opentelemetry-proto's trace.proto field numbers).

/** A message's fields by number: varints as bigint, length-delimited and fixed as bytes. */
type Fields = Map<number, Array<Buffer | bigint>>

const readFields = (buf: Buffer): Fields => {
  const fields: Fields = new Map()
  let at = 0
  const varint = (): bigint => {
    let result = 0n
    let shift = 0n
    for (;;) {
      const byte = buf[at++]!
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result
      shift += 7n
    }
  }
  while (at < buf.length) {
    const key = Number(varint())
    const [field, wire] = [key >>> 3, key & 7]
    let value: Buffer | bigint
    if (wire === 0) value = varint()
    else if (wire === 1) value = buf.subarray(at, at += 8)
    else if (wire === 5) value = buf.subarray(at, at += 4)
    else if (wire === 2) {
      const length = Number(varint())
      value = buf.subarray(at, at += length)
    } else throw new Error(`protobuf wire type ${wire} not supported`)
    fields.set(field, [...(fields.get(field) ?? []), value])
  }
  return fields
}

const all = (fields: Fields, n: number): Array<Buffer> => (fields.get(n) ?? []) as Array<Buffer>
const one = (fields: Fields, n: number): Buffer | undefined => all(fields, n)[0]
const text = (fields: Fields, n: number): string => one(fields, n)?.toString("utf8") ?? ""
const idHex = (fields: Fields, n: number): string | undefined => {
  const bytes = one(fields, n)
  return bytes === undefined || bytes.length === 0 ? undefined : bytes.toString("hex")
}

/** AnyValue: string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7. */
const protoValue = (buf: Buffer): unknown => {
  const f = readFields(buf)
  if (f.has(1)) return text(f, 1)
  if (f.has(2)) return (f.get(2)![0] as bigint) !== 0n
  if (f.has(3)) return Number(BigInt.asIntN(64, f.get(3)![0] as bigint))
  if (f.has(4)) return one(f, 4)!.readDoubleLE(0)
  if (f.has(5)) return all(readFields(one(f, 5)!), 1).map(protoValue)
  if (f.has(6)) return protoAttributes(readFields(one(f, 6)!), 1)
  return one(f, 7)
}

/** KeyValue list: key 1, value 2. */
const protoAttributes = (fields: Fields, n: number): Record<string, unknown> =>
  Object.fromEntries(
    all(fields, n).map((kv) => {
      const f = readFields(kv)
      const value = one(f, 2)
      return [text(f, 1), value === undefined ? undefined : protoValue(value)]
    })
  )

/** ExportTraceServiceRequest → ResourceSpans (1: resource, 2: scopeSpans) → ScopeSpans (2: spans) → Span. */
const decodeProtobufSpans = (body: Buffer): Array<CollectedSpan> =>
  all(readFields(body), 1).flatMap((rsBuf) => {
    const rs = readFields(rsBuf)
    const resource = one(rs, 1)
    const service = String(resource === undefined ? "" : protoAttributes(readFields(resource), 1)["service.name"] ?? "")
    return all(rs, 2).flatMap((ssBuf) =>
      all(readFields(ssBuf), 2).map((spanBuf): CollectedSpan => {
        // Span: traceId 1, spanId 2, parentSpanId 4, name 5, attributes 9, events 11, links 13, status 15.
        const span = readFields(spanBuf)
        const status = one(span, 15)
        const statusFields = status === undefined ? new Map() as Fields : readFields(status)
        return {
          service,
          traceId: idHex(span, 1)!,
          spanId: idHex(span, 2)!,
          parentSpanId: idHex(span, 4),
          name: text(span, 5),
          attributes: protoAttributes(span, 9),
          // Event: name 2, attributes 3.
          events: all(span, 11).map((buf) => {
            const event = readFields(buf)
            return { name: text(event, 2), attributes: protoAttributes(event, 3) }
          }),
          // Link: traceId 1, spanId 2, attributes 4.
          links: all(span, 13).map((buf) => {
            const link = readFields(buf)
            return { traceId: idHex(link, 1)!, spanId: idHex(link, 2)!, attributes: protoAttributes(link, 4) }
          }),
          // Status: message 2, code 3.
          status: {
            code: Number((statusFields.get(3)?.[0] as bigint | undefined) ?? 0n),
            message: text(statusFields, 2) || undefined
          }
        }
      })
    )
  })
