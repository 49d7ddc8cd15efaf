/**
 * Where `taskflow worker --otlp` and `taskflow server --otlp` send spans, metrics and logs: the
 * flags and the standard OpenTelemetry environment, checked. Light on purpose: the exporter itself
 * (./otlp.ts, with @effect/opentelemetry) loads only when an endpoint is given.
 * @internal
 */
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { badUsage, failed } from "./failure.js"
import type { CliFailure } from "./failure.js"

/** The OTLP/HTTP encodings the exporter speaks. */
export const OTLP_PROTOCOLS = ["http/protobuf", "http/json"] as const

/** An OTLP/HTTP encoding. */
export type OtlpProtocol = typeof OTLP_PROTOCOLS[number]

/** `--otlp <url>` and `--otlp-protocol`, with the standard variables as fallbacks. */
export const otlpOptions = {
  otlp: Options.text("otlp").pipe(
    Options.withDescription(
      "Export spans, metrics and logs over OTLP/HTTP to this collector base URL, e.g. http://localhost:4318 " +
        "(default: $OTEL_EXPORTER_OTLP_ENDPOINT; none: no export). See docs/telemetry.md."
    ),
    Options.withFallbackConfig(Config.string("OTEL_EXPORTER_OTLP_ENDPOINT")),
    Options.optional
  ),
  otlpProtocol: Options.text("otlp-protocol").pipe(
    Options.withDescription(
      "How --otlp encodes: http/protobuf or http/json (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)."
    ),
    Options.withFallbackConfig(Config.string("OTEL_EXPORTER_OTLP_PROTOCOL")),
    Options.optional
  )
}

/** What `otlpOptions` parse to. */
export interface OtlpFlags {
  readonly otlp: Option.Option<string>
  readonly otlpProtocol: Option.Option<string>
}

/** A checked export target: what ./otlp.ts builds its layer from. */
export interface OtlpSettings {
  /** The base URL: /v1/traces, /v1/metrics and /v1/logs are posted under it. */
  readonly baseUrl: string
  readonly protocol: OtlpProtocol
  readonly serviceName: string
  readonly headers: Readonly<Record<string, string>>
  readonly resourceAttributes: Readonly<Record<string, string>>
  /** Between exports, in ms, when the standard variables set them (else the exporter's defaults). */
  readonly tracesInterval?: number
  readonly metricsInterval?: number
  readonly logsInterval?: number
}

/** The environment the settings read (process.env in the command; a record in tests). */
export type Env = Readonly<Record<string, string | undefined>>

/**
 * The settings from the flags and the environment: undefined without an endpoint (no export, and
 * nothing of OpenTelemetry loads); a bad value is bad usage (exit 2) that says what to write.
 */
export const resolveOtlp = (
  flags: OtlpFlags,
  env: Env,
  defaultServiceName: string
): Effect.Effect<OtlpSettings | undefined, CliFailure> =>
  Effect.suspend(() => {
    // An empty variable is unset, as OpenTelemetry's SDKs read it.
    const endpoint = Option.getOrUndefined(Option.filter(flags.otlp, (url) => url.trim() !== ""))?.trim()
    if (endpoint === undefined) return Effect.succeed(undefined)
    const baseUrl = checkUrl(endpoint)
    if (typeof baseUrl !== "string") return Effect.fail(baseUrl)
    const protocol = Option.getOrElse(Option.filter(flags.otlpProtocol, (p) => p.trim() !== ""), () => "http/protobuf")
      .trim()
    if (!(OTLP_PROTOCOLS as ReadonlyArray<string>).includes(protocol)) {
      return Effect.fail(badUsage(
        `--otlp-protocol ${protocol} (or $OTEL_EXPORTER_OTLP_PROTOCOL): taskflow exports over OTLP/HTTP only; ` +
          `write http/protobuf or http/json, and point --otlp at the collector's HTTP port (4318 by default).`
      ))
    }
    const headers = parsePairs(env["OTEL_EXPORTER_OTLP_HEADERS"], "OTEL_EXPORTER_OTLP_HEADERS")
    const resourceAttributes = parsePairs(env["OTEL_RESOURCE_ATTRIBUTES"], "OTEL_RESOURCE_ATTRIBUTES")
    if (typeof headers === "string") return Effect.fail(badUsage(headers))
    if (typeof resourceAttributes === "string") return Effect.fail(badUsage(resourceAttributes))
    const intervals: Record<string, number> = {}
    for (
      const [key, name] of [
        ["tracesInterval", "OTEL_BSP_SCHEDULE_DELAY"],
        ["metricsInterval", "OTEL_METRIC_EXPORT_INTERVAL"],
        ["logsInterval", "OTEL_BLRP_SCHEDULE_DELAY"]
      ] as const
    ) {
      const text = env[name]?.trim()
      if (text === undefined || text === "") continue
      const ms = Number(text)
      if (!Number.isInteger(ms) || ms <= 0) {
        return Effect.fail(badUsage(`$${name}=${text}: give a whole number of milliseconds, 1 or more.`))
      }
      intervals[key] = ms
    }
    const serviceName = env["OTEL_SERVICE_NAME"]?.trim() || resourceAttributes["service.name"] || defaultServiceName
    return Effect.succeed({
      baseUrl,
      protocol: protocol as OtlpProtocol,
      serviceName,
      headers,
      resourceAttributes,
      ...intervals
    })
  })

/** The base URL, or why it is not one. */
const checkUrl = (text: string): string | CliFailure => {
  const fix = `give the collector's OTLP/HTTP base URL, as http://localhost:4318 ` +
    `(spans go to /v1/traces under it, metrics to /v1/metrics, logs to /v1/logs).`
  // "localhost:4318" parses, as the scheme "localhost:": say what is missing.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return badUsage(`--otlp ${text} (or $OTEL_EXPORTER_OTLP_ENDPOINT) has no http:// or https://: ${fix}`)
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return badUsage(`--otlp ${text} (or $OTEL_EXPORTER_OTLP_ENDPOINT) is not a URL: ${fix}`)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return badUsage(`--otlp ${text}: taskflow exports over OTLP/HTTP, not ${url.protocol.slice(0, -1)}: ${fix}`)
  }
  if (/\/v1\/(traces|metrics|logs)\/?$/.test(url.pathname)) {
    return badUsage(`--otlp ${text} names one signal's path: ${fix}`)
  }
  return text.replace(/\/+$/, "")
}

/** "key=value,key2=value2" with URL-encoded values (the W3C Baggage form the OTel variables use). */
const parsePairs = (text: string | undefined, name: string): Record<string, string> | string => {
  const pairs: Record<string, string> = {}
  if (text === undefined || text.trim() === "") return pairs
  for (const item of text.split(",")) {
    if (item.trim() === "") continue
    const at = item.indexOf("=")
    const key = at > 0 ? item.slice(0, at).trim() : ""
    if (key === "") return `$${name}: "${item}" is not key=value; write key=value pairs separated by commas.`
    try {
      pairs[key] = decodeURIComponent(item.slice(at + 1).trim())
    } catch {
      return `$${name}: the value of ${key} is not URL-encoded; encode it (%20 for a space, %2C for a comma).`
    }
  }
  return pairs
}

/**
 * Runs `effect` with spans, metrics and logs exported to the settings' collector, flushed when it
 * ends (Ctrl-C, SIGTERM included); without settings, as it is.
 */
export const withOtlp = <A, E, R>(
  settings: OtlpSettings | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | CliFailure, R> =>
  settings === undefined ? effect : Effect.flatMap(
    Effect.tryPromise({
      try: () => import("./otlp.js"),
      // @effect/opentelemetry is a peer dependency: an install may lack it.
      catch: (error) =>
        failed(
          `--otlp needs the package @effect/opentelemetry (0.64), which did not load: install it next to ` +
            `effect-taskflow (npm install @effect/opentelemetry@^0.64). ${
              error instanceof Error ? error.message : String(error)
            }`
        )
    }),
    (otlp) => Effect.provide(effect, otlp.layer(settings))
  )
