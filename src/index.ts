/**
 * effect-taskflow: Prefect's futures, tasks and flows on Effect.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Flow from "./Flow.js"
/** @since 0.1.0 */
export * as Futures from "./Futures.js"
/** @since 0.1.0 */
export * as RunStore from "./RunStore.js"
/** @since 0.1.0 */
export * as State from "./State.js"
/** @since 0.1.0 */
export * as Task from "./Task.js"
/** @since 0.1.0 */
export * as Telemetry from "./Telemetry.js"
/** @since 0.1.0 */
export * as TaskRunner from "./TaskRunner.js"
/** @since 0.1.0 */
export * as TaskWorker from "./TaskWorker.js"
