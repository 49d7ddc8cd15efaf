/**
 * The server's JSON API, declared with `HttpApi`: every endpoint under `/api`, its query, its
 * answer and its errors with their HTTP statuses (docs/ui.md documents them). The pages read the
 * store directly; scripts use this.
 * @internal
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"
import * as Errors from "../../Errors.js"
import * as RunStore from "../../RunStore.js"
import { RunDetailJson, RunJson, StateJson } from "./json.js"

/** A filter, cursor or id the API cannot use, with the reason (400). */
export class BadRequest extends Schema.TaggedError<BadRequest>("effect-taskflow/server/BadRequest")("BadRequest", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 400 })) {}

/** An action on a run in the wrong state: cancel of a finished run, rerun of an unfinished one (409). */
export class RunStateConflict extends Schema.TaggedError<RunStateConflict>("effect-taskflow/server/RunStateConflict")(
  "RunStateConflict",
  { message: Schema.String, state: StateJson },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** An action on a server started with `--read-only` (403). */
export class ReadOnly extends Schema.TaggedError<ReadOnly>("effect-taskflow/server/ReadOnly")("ReadOnly", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 403 })) {}

/** The store failed to answer, or a run's row did not decode (503). */
export class StoreFailed extends Schema.TaggedError<StoreFailed>("effect-taskflow/server/StoreFailed")("StoreFailed", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503 })) {}

/** The filters of a runs listing: the same as the runs page's query (every value as text, checked by the handler). */
export const RunsQuery = Schema.Struct({
  /** State types (RUNNING) or state names (TimedOut); repeat the parameter for several. */
  state: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  name: Schema.optional(Schema.String),
  kind: Schema.optional(Schema.String),
  tag: Schema.optional(Schema.String),
  /** A flow run's id: only its runs. */
  flow: Schema.optional(Schema.String),
  /** ISO times: created at or after `from`, before `to`. */
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  cursor: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.String)
})

/**
 * Counts per state type. Each is counted up to `cap`: a state type in `capped` has more than `cap`
 * runs (its count reads `cap + 1`), so no count reads more than `cap + 1` runs of a large store.
 */
export const RunCounts = Schema.Struct({
  counts: Schema.Record({ key: Schema.String, value: Schema.Number }),
  capped: Schema.Array(Schema.String),
  cap: Schema.Number
})

/** A page of runs, and the cursor of the next (null on the last). */
export const RunsPage = Schema.Struct({ runs: Schema.Array(RunJson), next: Schema.NullOr(Schema.String) })

const idParam = HttpApiSchema.param("id", Schema.String)

/** The runs endpoints. */
export class RunsGroup extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.get("list", "/runs")
      .setUrlParams(RunsQuery)
      .addSuccess(RunsPage)
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.get("counts", "/runs/counts")
      .setUrlParams(RunsQuery)
      .addSuccess(RunCounts)
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.get("get")`/runs/${idParam}`
      .addSuccess(RunDetailJson)
      .addError(Errors.RunNotFound, { status: 404 })
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.get("history")`/runs/${idParam}/history`
      .addSuccess(Schema.Struct({ states: Schema.Array(StateJson) }))
      .addError(Errors.RunNotFound, { status: 404 })
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.get("logs")`/runs/${idParam}/logs`
      .setUrlParams(Schema.Struct({ after: Schema.optional(Schema.String), limit: Schema.optional(Schema.String) }))
      .addSuccess(Schema.Struct({ logs: Schema.Array(RunStore.RunLog) }))
      .addError(Errors.RunNotFound, { status: 404 })
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.get("taskRuns")`/runs/${idParam}/task-runs`
      .setUrlParams(Schema.Struct({ cursor: Schema.optional(Schema.String), limit: Schema.optional(Schema.String) }))
      .addSuccess(RunsPage)
      .addError(Errors.RunNotFound, { status: 404 })
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.post("cancel")`/runs/${idParam}/cancel`
      .addSuccess(Schema.Struct({ state: StateJson }))
      .addError(Errors.RunNotFound, { status: 404 })
      .addError(BadRequest)
      .addError(RunStateConflict)
      .addError(ReadOnly)
  )
  .add(
    HttpApiEndpoint.post("rerun")`/runs/${idParam}/rerun`
      .addSuccess(RunJson)
      .addError(Errors.RunNotFound, { status: 404 })
      .addError(BadRequest)
      .addError(RunStateConflict)
      .addError(ReadOnly)
  )
  .add(
    HttpApiEndpoint.get("events", "/events")
      .setUrlParams(Schema.Struct({ lastEventId: Schema.optional(Schema.String) }))
      .addSuccess(HttpApiSchema.withEncoding(Schema.String, { kind: "Text", contentType: "text/event-stream" }))
      .addError(BadRequest)
  )
  .addError(StoreFailed)
  .prefix("/api")
{}

/** The API: `Api` of effect-taskflow/Server. */
export class Api extends HttpApi.make("taskflow").add(RunsGroup) {}
