/**
 * Where `taskflow worker --otlp` and `taskflow server --otlp` send spans, metrics and logs: the
 * flags and the standard OpenTelemetry environment, checked. Light on purpose: the exporter itself
 * (./otlp.ts, with @effect/opentelemetry) loads only when an endpoint is given.
 * @internal
 */
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { badUsage, failed } from "./failure.js"
import type { CliFailure } from "./failure.js"
import type { OtlpTarget } from "./otlp.js"

/** The OTLP/HTTP encodings the exporter speaks. */
export const OTLP_PROTOCOLS = ["http/protobuf", "http/json"] as const

/** An OTLP/HTTP encoding. */
export type OtlpProtocol = typeof OTLP_PROTOCOLS[number]

/**
 * `--otlp <url>` and `--otlp-protocol`. Their variables (OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL) are
 * read by `resolveOtlp`, not here: a problem with a flag is an error, one with the environment only a
 * warning.
 */
export const otlpOptions = {
  otlp: Options.text("otlp").pipe(
    Options.withDescription(
      "Export spans, metrics and logs over OTLP/HTTP to this collector base URL, e.g. http://localhost:4318 " +
        "(default: $OTEL_EXPORTER_OTLP_ENDPOINT; none: no export). Needs npm install @effect/opentelemetry@^0.64. " +
        "See docs/telemetry.md."
    ),
    Options.optional
  ),
  otlpProtocol: Options.text("otlp-protocol").pipe(
    Options.withDescription(
      "How --otlp encodes: http/protobuf or http/json (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)."
    ),
    Options.optional
  )
}

/** What `otlpOptions` parse to. */
export interface OtlpFlags {
  readonly otlp: Option.Option<string>
  readonly otlpProtocol: Option.Option<string>
}

/** A checked export target: what ./otlp.ts builds its layer from (declared there). */
export type OtlpSettings = OtlpTarget

/** The environment the settings read (process.env in the command; a record in tests). */
export type Env = Readonly<Record<string, string | undefined>>

/** Standard variables taskflow does not read: set, they would be ignored without a word. */
const UNSUPPORTED =
  /^OTEL_EXPORTER_OTLP_(?:(?:TRACES|METRICS|LOGS)_\w+|COMPRESSION|CERTIFICATE|CLIENT_KEY|CLIENT_CERTIFICATE)$/

// An empty variable or flag is unset, as OpenTelemetry's SDKs read it.
const nonEmpty = (text: string | undefined): string | undefined => {
  const trimmed = text?.trim()
  return trimmed === undefined || trimmed === "" ? undefined : trimmed
}

const warn = (message: string) => Console.error(`Warning: ${message}`)

/**
 * The settings from the flags and the environment: undefined without an endpoint (no export, and
 * nothing of OpenTelemetry loads). With `--otlp`, a bad value is bad usage (exit 2) that says what to
 * write; with the endpoint only from OTEL_EXPORTER_OTLP_ENDPOINT, it is a warning on stderr and no
 * export (a worker that ran before keeps running), and OTEL_SDK_DISABLED=true turns that export off.
 */
export const resolveOtlp = (
  flags: OtlpFlags,
  env: Env,
  defaultServiceName: string
): Effect.Effect<OtlpSettings | undefined, CliFailure> =>
  Effect.gen(function*() {
    const flag = nonEmpty(Option.getOrUndefined(flags.otlp))
    const disabled = flag === undefined && nonEmpty(env["OTEL_SDK_DISABLED"])?.toLowerCase() === "true"
    const unsupported = Object.keys(env).filter((key) => UNSUPPORTED.test(key) && nonEmpty(env[key]) !== undefined)
    if (unsupported.length > 0 && !disabled) {
      yield* warn(
        `${unsupported.sort().join(", ")} ${unsupported.length === 1 ? "is" : "are"} not read by taskflow ` +
          `(ignored): set OTEL_EXPORTER_OTLP_ENDPOINT or --otlp instead (docs/telemetry.md lists what is read).`
      )
    }
    const endpoint = flag ?? (disabled ? undefined : nonEmpty(env["OTEL_EXPORTER_OTLP_ENDPOINT"]))
    if (endpoint === undefined) return undefined
    const settings = checkSettings(
      endpoint,
      flag === undefined ? "$OTEL_EXPORTER_OTLP_ENDPOINT" : "--otlp",
      flags,
      env,
      defaultServiceName
    )
    if (typeof settings !== "string") return settings
    if (flag !== undefined) return yield* Effect.fail(badUsage(settings))
    yield* warn(
      `${settings} Running without export (unset OTEL_EXPORTER_OTLP_ENDPOINT, or set OTEL_SDK_DISABLED=true, ` +
        `to silence this).`
    )
    return undefined
  })

/** The settings, or what is wrong with them (and how to write it). */
const checkSettings = (
  endpoint: string,
  source: string,
  flags: OtlpFlags,
  env: Env,
  defaultServiceName: string
): OtlpSettings | string => {
  const baseUrl = checkUrl(endpoint, source)
  if (baseUrl.problem) return baseUrl.text
  const protocol = nonEmpty(Option.getOrUndefined(flags.otlpProtocol)) ??
    nonEmpty(env["OTEL_EXPORTER_OTLP_PROTOCOL"]) ??
    "http/protobuf"
  if (!(OTLP_PROTOCOLS as ReadonlyArray<string>).includes(protocol)) {
    return `--otlp-protocol ${protocol} (or $OTEL_EXPORTER_OTLP_PROTOCOL): taskflow exports over OTLP/HTTP only; ` +
      `write http/protobuf or http/json, and point ${source} at the collector's HTTP port (4318 by default).`
  }
  const headers = parsePairs(env["OTEL_EXPORTER_OTLP_HEADERS"], "OTEL_EXPORTER_OTLP_HEADERS", true)
  const resourceAttributes = parsePairs(env["OTEL_RESOURCE_ATTRIBUTES"], "OTEL_RESOURCE_ATTRIBUTES", false)
  if (typeof headers === "string") return headers
  if (typeof resourceAttributes === "string") return resourceAttributes
  const numbers: Record<string, number> = {}
  for (
    const [key, name] of [
      ["tracesInterval", "OTEL_BSP_SCHEDULE_DELAY"],
      ["metricsInterval", "OTEL_METRIC_EXPORT_INTERVAL"],
      ["logsInterval", "OTEL_BLRP_SCHEDULE_DELAY"],
      ["timeout", "OTEL_EXPORTER_OTLP_TIMEOUT"]
    ] as const
  ) {
    const text = nonEmpty(env[name])
    if (text === undefined) continue
    const ms = Number(text)
    if (!Number.isInteger(ms) || ms <= 0) return `$${name}=${text}: give a whole number of milliseconds, 1 or more.`
    numbers[key] = ms
  }
  const serviceName = nonEmpty(env["OTEL_SERVICE_NAME"]) || resourceAttributes["service.name"] || defaultServiceName
  const serviceVersion = nonEmpty(env["OTEL_SERVICE_VERSION"]) || resourceAttributes["service.version"]
  return {
    baseUrl: baseUrl.text,
    protocol: protocol as OtlpProtocol,
    serviceName,
    ...(serviceVersion === undefined || serviceVersion === "" ? {} : { serviceVersion }),
    headers,
    resourceAttributes,
    ...numbers
  }
}

/** The base URL, or why it is not one. */
const checkUrl = (text: string, source: string): { readonly problem: boolean; readonly text: string } => {
  const fix = `give the collector's OTLP/HTTP base URL, as http://localhost:4318 ` +
    `(spans go to /v1/traces under it, metrics to /v1/metrics, logs to /v1/logs).`
  // "localhost:4318" parses, as the scheme "localhost:": say what is missing.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return { problem: true, text: `${source} ${text} has no http:// or https://: ${fix}` }
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return { problem: true, text: `${source} ${text} is not a URL: ${fix}` }
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return {
      problem: true,
      text: `${source} ${text}: taskflow exports over OTLP/HTTP, not ${url.protocol.slice(0, -1)}: ${fix}`
    }
  }
  if (/\/v1\/(traces|metrics|logs)\/?$/.test(url.pathname)) {
    return { problem: true, text: `${source} ${text} names one signal's path: ${fix}` }
  }
  return { problem: false, text: text.replace(/\/+$/, "") }
}

// RFC 7230: a header name is a token; a value has no control character but the tab.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/

/**
 * "key=value,key2=value2" with URL-encoded values (the W3C Baggage form the OTel variables use);
 * for headers, names and values HTTP can carry (else the exporter would fail on every request).
 */
const parsePairs = (text: string | undefined, name: string, header: boolean): Record<string, string> | string => {
  const pairs: Record<string, string> = {}
  if (text === undefined || text.trim() === "") return pairs
  for (const item of text.split(",")) {
    if (item.trim() === "") continue
    const at = item.indexOf("=")
    const key = at > 0 ? item.slice(0, at).trim() : ""
    if (key === "") return `$${name}: "${item}" is not key=value; write key=value pairs separated by commas.`
    if (header && !TOKEN.test(key)) {
      return `$${name}: "${key}" is not an HTTP header name; use letters, digits and - (no spaces), as x-team=ops.`
    }
    let value: string
    try {
      value = decodeURIComponent(item.slice(at + 1).trim())
    } catch {
      return `$${name}: the value of ${key} is not URL-encoded; encode it (%20 for a space, %2C for a comma).`
    }
    if (header && CONTROL.test(value)) {
      return `$${name}: the value of ${key} has a control character (a line break?), which a header cannot carry; ` +
        `remove it.`
    }
    pairs[key] = value
  }
  return pairs
}

/** The exporter's layer, built from checked settings (./otlp.ts). */
export type OtlpLayer = Layer.Layer<never>

/** What the command exports with: the settings (for its banner) and the loaded exporter. */
export interface OtlpExport {
  readonly settings: OtlpSettings
  readonly layer: OtlpLayer
}

/**
 * The settings (`resolveOtlp`) and the exporter, loaded now, before the command prints or migrates
 * anything, so a missing package fails first. @effect/opentelemetry is an optional peer: missing,
 * it fails with `--otlp` (exit 1), and is a warning naming the variable without it (no export).
 */
export const prepareOtlp = (
  flags: OtlpFlags,
  env: Env,
  defaultServiceName: string,
  load: () => Promise<{ readonly layer: (settings: OtlpSettings) => OtlpLayer }> = () => import("./otlp.js")
): Effect.Effect<OtlpExport | undefined, CliFailure> =>
  Effect.gen(function*() {
    const settings = yield* resolveOtlp(flags, env, defaultServiceName)
    if (settings === undefined) return undefined
    const fromFlag = Option.isSome(Option.filter(flags.otlp, (url) => url.trim() !== ""))
    const loaded = yield* Effect.either(Effect.tryPromise(load))
    if (loaded._tag === "Right") return { settings, layer: loaded.right.layer(settings) }
    const cause = loaded.left.error instanceof Error ? loaded.left.error.message : String(loaded.left.error)
    const install = `npm install @effect/opentelemetry@^0.64 next to effect-taskflow`
    if (fromFlag) {
      return yield* Effect.fail(failed(
        `--otlp needs the package @effect/opentelemetry (0.64), which did not load: ${install}. ${cause}`
      ))
    }
    yield* warn(
      `OTEL_EXPORTER_OTLP_ENDPOINT is set, but exporting needs the package @effect/opentelemetry (0.64), which ` +
        `did not load (${install}, or set OTEL_SDK_DISABLED=true). Running without export. ${cause}`
    )
    return undefined
  })

/**
 * Runs `effect` with spans, metrics and logs exported to the collector, flushed when it ends
 * (Ctrl-C, SIGTERM included); without an export, as it is.
 */
export const withOtlp = <A, E, R>(
  otlp: OtlpExport | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => otlp === undefined ? effect : Effect.provide(effect, otlp.layer)
