/**
 * The OTLP/HTTP exporter of `--otlp`: @effect/opentelemetry's own (`Otlp.layer`), so the command
 * needs no OpenTelemetry SDK. The only file of src/ that imports @effect/opentelemetry, loaded with
 * `import()` only when an endpoint is given (see ./otlpSettings.ts).
 * @internal
 */
import * as Otlp from "@effect/opentelemetry/Otlp"
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createRequire } from "node:module"

// From src/cli/internal/ and dist/cli/internal/ alike, the package's manifest is three folders up.
const version = (createRequire(import.meta.url)("../../../package.json") as { readonly version: string }).version

/** Where and how to send, as ./otlpSettings.ts checked it (which imports this file, not the reverse). */
export interface OtlpTarget {
  /** The base URL: /v1/traces, /v1/metrics and /v1/logs are posted under it. */
  readonly baseUrl: string
  readonly protocol: "http/protobuf" | "http/json"
  readonly serviceName: string
  /** The user's (OTEL_SERVICE_VERSION, else service.version in OTEL_RESOURCE_ATTRIBUTES), if any. */
  readonly serviceVersion?: string
  readonly headers: Readonly<Record<string, string>>
  readonly resourceAttributes: Readonly<Record<string, string>>
  /** Between exports, in ms, when the standard variables set them (else the exporter's defaults). */
  readonly tracesInterval?: number
  readonly metricsInterval?: number
  readonly logsInterval?: number
  /** The time an export request may take, in ms (OTEL_EXPORTER_OTLP_TIMEOUT; default 10 s). */
  readonly timeout?: number
}

/**
 * Node's HTTP client, each request given up after `ms` as a transport error: the exporter waits on
 * its requests one at a time and sets no limit, so a collector that never answers would stall it.
 */
const httpClient = (ms: number): Layer.Layer<HttpClient.HttpClient> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(
      HttpClient.HttpClient,
      HttpClient.transform((effect, request) =>
        Effect.timeoutFail(effect, {
          duration: ms,
          onTimeout: () =>
            new HttpClientError.RequestError({
              request,
              reason: "Transport",
              description: `no answer from the collector within ${ms} ms`
            })
        })
      )
    )
  ).pipe(Layer.provide(NodeHttpClient.layer))

/**
 * The tracer, the metric reader and the logger that send to the collector; closing the layer sends
 * what is left (within a few seconds), so a stopped worker's last spans arrive.
 */
export const layer = (settings: OtlpTarget): Layer.Layer<never> =>
  Otlp.layer({
    baseUrl: settings.baseUrl,
    resource: {
      serviceName: settings.serviceName,
      // The user's version, to group their deployments by; the library's has a key of its own.
      ...(settings.serviceVersion === undefined ? {} : { serviceVersion: settings.serviceVersion }),
      // Otlp's resource adds service.name and service.version itself: not twice.
      attributes: {
        ...Object.fromEntries(
          Object.entries(settings.resourceAttributes).filter(([key]) =>
            key !== "service.name" && key !== "service.version"
          )
        ),
        "taskflow.version": version
      }
    },
    headers: settings.headers,
    ...(settings.tracesInterval === undefined ? {} : { tracerExportInterval: settings.tracesInterval }),
    ...(settings.metricsInterval === undefined ? {} : { metricsExportInterval: settings.metricsInterval }),
    ...(settings.logsInterval === undefined ? {} : { loggerExportInterval: settings.logsInterval })
  }).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(httpClient(settings.timeout ?? 10_000))
  )
