/**
 * When a holder of leases (a task worker, a process's in-process runs) may recover expired leases of
 * others: not while the store has just come back, when every lease, live holders' too, may have expired.
 * @internal
 */

/**
 * The longest a SQL store's call waits between tries while the store is away (retry.ts): a live
 * worker's heartbeat reaches a store that is back within that, plus its interval.
 */
export const LONGEST_RECONNECT_WAIT = 2_000

/**
 * When a lease holder (a task worker, a process's in-process renewals) may recover expired leases.
 * When the store comes back to it (a heartbeat answers after one failed, or takes longer than an interval), every lease may have expired meanwhile, the
 * live holders' too: they get `grace` to reach the store and renew theirs (and write the outcomes they
 * kept) before anything is treated as dead. A worker starts with the gate shut: it may be starting as
 * the store comes back (a restarted pod). Slow beats shut it at most once in two graces, so a store
 * that is often slow still has dead workers' runs recovered.
 */
export class RecoveryGate {
  private notBefore: number | undefined
  private failedBefore = true
  private slowShutAt = Number.NEGATIVE_INFINITY
  constructor(private readonly grace: number) {}
  /** A heartbeat failed: the store is out of reach. */
  failed(): void {
    this.failedBefore = true
  }
  /** A heartbeat answered at `now`, slowly or not: whether recovery may run now. */
  answered(now: number, slow: boolean): boolean {
    if (this.failedBefore || this.notBefore === undefined) {
      this.notBefore = now + this.grace
    } else if (slow && now - this.slowShutAt >= 2 * this.grace) {
      this.notBefore = now + this.grace
      this.slowShutAt = now
    }
    this.failedBefore = false
    return now >= this.notBefore
  }
}

/**
 * The grace of a holder renewing every `every` ms: live holders renew within their interval, at most
 * a third of their lease by default. @internal
 */
export const recoveryGrace = (every: number, lease: number): number =>
  LONGEST_RECONNECT_WAIT + Math.max(2 * every, lease / 3)
