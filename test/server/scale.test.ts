/**
 * The pages' reads stay bounded on large stores (issue 24, review R1 findings 1, 2 and 8), told by
 * what they ask the store, not by timings: the runs page's counts are capped per state type ("10,000+")
 * and kept a few seconds for live refreshes; a flow of 10,000 task runs over 60 tasks renders from
 * one grouped count and one page of runs; a state type and a state name given together count each
 * run once.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { RunStore, State } from "effect-taskflow"
import { PageContext } from "../../src/internal/server/pages/context.js"
import { COUNT_CAP, COUNTS_FRESH_FOR } from "../../src/internal/server/pages/counts.js"
import { MAX_BARS } from "../../src/internal/server/pages/flowSections.js"
import { pagesRouter } from "../../src/internal/server/pages/router.js"

/** What the pages asked the store: listings (and the runs they got back) and counts (with their options). */
interface Asked {
  listings: number
  runsListed: number
  counts: Array<RunStore.CountOptions | undefined>
}

/** The memory store, with every listing and count it answers noted in `asked`. */
const watchedStore = (asked: Asked) =>
  Layer.effect(
    RunStore.RunStore,
    Effect.map(RunStore.RunStore, (store): RunStore.Service => ({
      ...store,
      listRunsPage: (filter) =>
        Effect.tap(store.listRunsPage(filter), (page) =>
          Effect.sync(() => {
            asked.listings += 1
            asked.runsListed += page.runs.length
          })),
      countRuns: (filter, options) =>
        Effect.zipLeft(store.countRuns(filter, options), Effect.sync(() => asked.counts.push(options)))
    }))
  ).pipe(Layer.provideMerge(RunStore.memory))

const serverOf = (asked: Asked) =>
  HttpServer.serve(pagesRouter).pipe(
    Layer.provide(Layer.succeed(PageContext, { readOnly: true, basePath: "" })),
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(watchedStore(asked))
  )

/** GET `path`; `live`: as the page's script re-fetches it (a fetch, not a navigation). */
const get = (path: string, live = false) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const request = HttpClientRequest.get(path).pipe(
      HttpClientRequest.setHeader("sec-fetch-mode", live ? "cors" : "navigate")
    )
    const response = yield* client.execute(request)
    expect(response.status).toBe(200)
    return yield* response.text
  })

const countText = (text: string, type: string): string | undefined =>
  new RegExp(`<li data-state-type="${type}">.*?<span class="count">([^<]+)</span>`).exec(text)?.[1]

const idOf = (i: number) => `${i.toString(16).padStart(8, "0")}-0000-7000-8000-00000000000f`
const T0 = Date.UTC(2026, 0, 1)

const fresh = (): Asked => ({ listings: 0, runsListed: 0, counts: [] })

describe("pages at scale", () => {
  it.effect("a flow of 10,000 task runs over 60 tasks: one grouped count, one page of runs", () => {
    const asked = fresh()
    return Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const flow = idOf(0)
      yield* store.createRun({ id: flow, kind: "flow", name: "scale-flow", state: State.running() })
      yield* store.createRuns(Array.from({ length: 10_000 }, (_, i) => ({
        id: idOf(i + 1),
        kind: "task" as const,
        name: `scale-step-${i % 60}`,
        flowRunId: flow,
        state: State.completed(i, { timestamp: new Date(T0 + i * 1000 + 500) })
      })))
      Object.assign(asked, fresh())
      const text = yield* get(`/runs/${flow}`)
      // One summary per task, its span from the grouped count (first creation to last end).
      expect(text.match(/class="group" data-task-name="scale-step-\d+"/g)).toHaveLength(60)
      expect(text).toContain(
        `data-task-name="scale-step-0"><a class="label" href="/runs?flow=${flow}&amp;name=scale-step-0">scale-step-0 ×167</a>`
      )
      expect(asked.counts).toHaveLength(1)
      // The task runs table's page; no run read for the summaries (the old page read 2 per task).
      expect(asked.listings).toBeLessThanOrEqual(2)
      expect(asked.runsListed).toBeLessThanOrEqual(MAX_BARS + 51)
    }).pipe(Effect.provide(serverOf(asked)))
  }, 60_000)

  it.effect("a small flow's bars: one page of its runs, whatever its number of tasks", () => {
    const asked = fresh()
    return Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const flow = idOf(0)
      yield* store.createRun({ id: flow, kind: "flow", name: "scale-small", state: State.running() })
      yield* store.createRuns(Array.from({ length: 40 }, (_, i) => ({
        id: idOf(i + 1),
        kind: "task" as const,
        name: `scale-small-${i % 40}`,
        flowRunId: flow,
        state: State.running()
      })))
      Object.assign(asked, fresh())
      const text = yield* get(`/runs/${flow}`)
      expect(text.match(/class="bar" data-run-id=/g)).toHaveLength(40)
      expect(asked.listings).toBe(2) // the bars' page and the table's
    }).pipe(Effect.provide(serverOf(asked)))
  })

  it.effect("counts above the cap show as 10,000+, and are counted with the cap", () => {
    const asked = fresh()
    return Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* store.createRuns(Array.from({ length: COUNT_CAP + 2 }, (_, i) => ({
        id: idOf(i + 1),
        kind: "task" as const,
        name: "scale-many",
        state: State.scheduled()
      })))
      const text = yield* get("/runs?name=scale-many")
      expect(countText(text, "SCHEDULED")).toBe("10,000+")
      expect(asked.counts.length).toBeGreaterThan(0)
      expect(asked.counts.every((options) => options?.cap === COUNT_CAP)).toBe(true)
      expect(countText(yield* get("/runs?name=scale-none"), "SCHEDULED")).toBeUndefined()
    }).pipe(Effect.provide(serverOf(asked)))
  }, 60_000)

  it.effect("a live refresh reuses the view's counts for a few seconds; a page load counts", () => {
    const asked = fresh()
    return Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* store.createRun({ id: idOf(1), kind: "task", name: "scale-live", state: State.running() })
      expect(countText(yield* get("/runs?name=scale-live"), "RUNNING")).toBe("1")
      expect(asked.counts).toHaveLength(1)
      yield* store.createRun({ id: idOf(2), kind: "task", name: "scale-live", state: State.running() })
      // Live refreshes within COUNTS_FRESH_FOR: the rows are new, the counts are those kept.
      const live = yield* get("/runs?name=scale-live", true)
      expect(live).toContain(`data-run-id="${idOf(2)}"`)
      expect(countText(live, "RUNNING")).toBe("1")
      expect(live).toContain(`<ul id="counts" data-live data-counted-at="0"`) // when they were counted
      yield* get("/runs?name=scale-live", true)
      expect(asked.counts).toHaveLength(1)
      // Another view has its own counts.
      yield* get("/runs?name=scale-other", true)
      expect(asked.counts).toHaveLength(2)
      yield* TestClock.adjust(COUNTS_FRESH_FOR)
      expect(countText(yield* get("/runs?name=scale-live", true), "RUNNING")).toBe("2")
      expect(asked.counts).toHaveLength(3)
      // A page load always counts.
      yield* get("/runs?name=scale-live")
      expect(asked.counts).toHaveLength(4)
    }).pipe(Effect.provide(serverOf(asked)))
  })

  it.effect("a state type and a state name given together count a run of both once", () => {
    const asked = fresh()
    return Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* store.createRun({
        id: idOf(1),
        kind: "task",
        name: "scale-both",
        state: State.running({ name: "Retrying" })
      })
      yield* store.createRun({ id: idOf(2), kind: "task", name: "scale-both", state: State.running() })
      const text = yield* get("/runs?name=scale-both&state=RUNNING&state=Retrying")
      expect(countText(text, "RUNNING")).toBe("2")
      expect(countText(yield* get("/runs?name=scale-both&state=Retrying"), "RUNNING")).toBe("1")
    }).pipe(Effect.provide(serverOf(asked)))
  })
})
