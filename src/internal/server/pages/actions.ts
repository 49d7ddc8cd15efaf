/**
 * Cancel and rerun: GET shows a confirmation page (a GET never changes anything), POST does it and
 * answers 303 to the run's page (the new run's, for a rerun) with the outcome. A POST needs the
 * form's `csrf` field to equal the `taskflow_csrf` cookie (the server's middleware checks it too,
 * with the Origin: the pages stay safe even mounted alone), and is refused in read-only mode.
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as RunStore from "../../../RunStore.js"
import * as State from "../../../State.js"
import { CSRF_COOKIE, CSRF_FIELD, sameSecret } from "../security.js"
import { PageContext } from "./context.js"
import { runHref, stateBadge } from "./format.js"
import { html } from "./html.js"
import { page, PageError, storeFailed } from "./layout.js"
import { resolveRun } from "./reads.js"

type Action = "cancel" | "rerun"

const refusedReadOnly = new PageError({
  status: 403,
  title: "Read-only",
  message: "This server is read-only: it does not cancel or rerun runs."
})

/** Why `action` does not apply to `run` now (409), or undefined when it does. */
const conflict = (action: Action, run: RunStore.RunRecord): PageError | undefined => {
  const final = State.isFinal(run.state)
  if (action === "cancel" && final) {
    return new PageError({
      status: 409,
      title: "Already finished",
      message: `The run is already ${run.state.name}: there is nothing to cancel.`
    })
  }
  if (action === "rerun" && !final) {
    return new PageError({
      status: 409,
      title: "Not finished",
      message: `The run is ${run.state.name}: only a finished run can be rerun.`
    })
  }
  return undefined
}

const target = (basePath: string) =>
  Effect.gen(function*() {
    const { id } = yield* HttpRouter.params
    return yield* resolveRun(basePath, id ?? "")
  })

/** GET /runs/:id/cancel and /runs/:id/rerun: what would happen, and the form that does it. */
export const confirmRoute = (action: Action) =>
  Effect.gen(function*() {
    const { basePath, readOnly } = yield* PageContext
    if (readOnly) return yield* Effect.fail(refusedReadOnly)
    const run = yield* target(basePath)
    const refusal = conflict(action, run)
    if (refusal !== undefined) return yield* Effect.fail(refusal)
    const request = yield* HttpServerRequest.HttpServerRequest
    const verb = action === "cancel" ? "Cancel" : "Rerun"
    return page({
      basePath,
      title: `${verb} ${run.name}`,
      body: html`<h1>${verb} <span id="run-name">${run.name}</span>?</h1>
<p>${stateBadge(run.state, "run-state")} <code>${run.id}</code></p>
<p>${
        action === "cancel"
          ? "The run stops: a run held by a task worker moves to Cancelling and its worker stops it."
          : "A new run of the same task or flow, with the same parameters, is scheduled for a task worker."
      }</p>
<form id="confirm" method="post" action="${runHref(basePath, run.id, `/${action}`)}">
<input type="hidden" name="${CSRF_FIELD}" value="${request.cookies[CSRF_COOKIE] ?? ""}">
<button type="submit">${verb}</button> <a href="${runHref(basePath, run.id)}">Back</a>
</form>`
    })
  })

const Form = Schema.Struct({ csrf: Schema.optional(Schema.String) })

/** POST /runs/:id/cancel and /runs/:id/rerun. */
export const actionRoute = (action: Action) =>
  Effect.gen(function*() {
    const { basePath, readOnly } = yield* PageContext
    if (readOnly) return yield* Effect.fail(refusedReadOnly)
    const request = yield* HttpServerRequest.HttpServerRequest
    const form = yield* HttpServerRequest.schemaBodyUrlParams(Form).pipe(
      Effect.orElseSucceed(() => ({ csrf: undefined }))
    )
    const cookie = request.cookies[CSRF_COOKIE]
    if (cookie === undefined || cookie === "" || form.csrf === undefined || !sameSecret(form.csrf, cookie)) {
      return yield* Effect.fail(
        new PageError({
          status: 403,
          title: "Refused",
          message: "The form's token does not match this session: reload the page and try again."
        })
      )
    }
    const run = yield* target(basePath)
    const refusal = conflict(action, run)
    if (refusal !== undefined) return yield* Effect.fail(refusal)
    const store = yield* RunStore.RunStore
    const next = action === "cancel"
      ? yield* Effect.as(store.cancelRun(run.id), run.id)
      : yield* Effect.map(store.rerun(run.id), (rerun) => rerun.id)
    return HttpServerResponse.redirect(runHref(basePath, next, `?done=${action}`), { status: 303 })
  }).pipe(
    // Gone between its page and the action (pruned): a 404, as its page would now be.
    Effect.catchTag("RunNotFound", (e) =>
      Effect.fail(
        new PageError({ status: 404, title: "Run not found", message: `No run has the id ${e.runId ?? ""}.` })
      )),
    Effect.catchTag("RunStoreError", "SerializationError", (e) => Effect.fail(storeFailed(e)))
  )
