import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"

/**
 * A task as the engine runs it: the body and its options, resolved to plain values.
 * @internal
 */
export interface TaskDefinition {
  readonly kind: "task" | "flow"
  readonly name: string
  readonly fn: (...args: Array<any>) => Effect.Effect<any, any, any>
  readonly retries: number
  readonly retryDelay: Duration.Duration | undefined
  readonly timeout: Duration.Duration | undefined
  readonly tags: ReadonlyArray<string>
  readonly persistResult: boolean
  /** Encode the arguments, the value and the typed failure where they cross threads or processes. */
  readonly parameters: Schema.Schema<any, any, never> | undefined
  readonly success: Schema.Schema<any, any, never> | undefined
  readonly failure: Schema.Schema<any, any, never> | undefined
  /** How its runs appear in traces (`Telemetry.TracingOptions`, defaults applied). */
  readonly tracing: {
    readonly join: "auto" | "parent" | "link" | "none"
    readonly recordParameters: boolean
  }
}
