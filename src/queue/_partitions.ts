/**
 * Queue partitions: one queue spread over N hash-tagged partitions, so a
 * queue's keys are not all in one Redis Cluster slot and its throughput is not
 * capped by one shard.
 *
 * Partitioning is routing only. Partition `k` of queue `reports` is, to the
 * backend underneath, the queue `reports#k` (or `reports#k.<salt>`: see
 * `_partition_keys.ts`), with its own lifecycle keys under its own hash tag
 * (`kiln:{reports#k}:…`), so every script call stays inside
 * one partition and the scripts are the ones an unpartitioned queue runs. A
 * job lives in the partition its id hashes to; a job with a unique key gets an
 * id that hashes to its key's partition (see `Queue`), so a unique key is held
 * in one place and every call that names a job by id goes to one partition.
 *
 * @module
 */
import type {
  BackendJobPage,
  BackendJobQuery,
  BatchInfo,
  ChainInfo,
  Completion,
  DispatchResult,
  FailRequest,
  FailResult,
  Heartbeat,
  JobEvent,
  JobInfo,
  JobPosition,
  Lease,
  ManageRequest,
  MetricBucket,
  NewJob,
  QueueBackend,
  QueueCounts,
  RetainLimit,
  Retention,
  StoredJob,
  TakeRequest,
  TakeResult,
  WorkerInfo,
  WorkflowRequest,
} from "./backend.ts";
import { mergeBuckets, RESOLUTIONS } from "./_metrics.ts";
import { parsePartition, partitionName, partitionOf } from "./_partition_keys.ts";
import { Rotation } from "./_partition_rotation.ts";
import { InvalidCursorError } from "./errors.ts";

/** How long a completion applied by a take that failed elsewhere is remembered, in ms. */
const SETTLED_FOR = 600_000;

/** Newest first: a larger value, then on a tie a larger id (the backends' own order). */
function before(a: JobPosition, b: JobPosition): boolean {
  return a.value > b.value || (a.value === b.value && a.id > b.id);
}

/**
 * A backend that spreads the queues `count()` names over partitions of an
 * inner backend, and answers for each as one queue. Queues with one partition
 * pass straight through.
 */
export class PartitionedBackend implements QueueBackend {
  #inner: QueueBackend;
  #partitions: (queue: string) => number;
  #rotations = new Map<string, Rotation>();
  /** Completions (`id`, token) applied by a take whose other calls failed: they are not lost. */
  #settled = new Map<string, number>();

  /**
   * Wraps a backend.
   *
   * @param inner The backend holding the partitions.
   * @param partitions How many partitions each queue has (1: not partitioned).
   */
  constructor(inner: QueueBackend, partitions: (queue: string) => number) {
    this.#inner = inner;
    this.#partitions = partitions;
  }

  /**
   * How many partitions a queue has.
   *
   * @throws {TypeError} When the name is a partition's of a partitioned queue.
   */
  partitions(queue: string): number {
    const owner = parsePartition(queue);
    if (owner !== null && owner.index < this.#partitions(owner.queue)) {
      throw new TypeError(
        `Queue "${queue}" is named as a partition of the partitioned queue "${owner.queue}": use "${owner.queue}"`,
      );
    }
    return this.#partitions(queue);
  }

  /** The queue and index of a partition's name, or `null` for any other name. */
  #ownerOf(name: string): { queue: string; index: number } | null {
    const owner = parsePartition(name);
    if (owner === null) return null;
    const count = this.#partitions(owner.queue);
    const ours = owner.index < count && partitionName(owner.queue, owner.index, count) === name;
    return ours ? owner : null;
  }

  #rotation(queue: string, count: number): Rotation {
    let rotation = this.#rotations.get(queue);
    if (rotation === undefined) {
      rotation = new Rotation(count);
      this.#rotations.set(queue, rotation);
    }
    return rotation;
  }

  /** Every partition's name. */
  #names(queue: string, count: number): string[] {
    return Array.from({ length: count }, (_, index) => partitionName(queue, index, count));
  }

  /** `items` grouped by the partition of their id. */
  #group<T>(items: readonly T[], idOf: (item: T) => string, count: number): Map<number, T[]> {
    const groups = new Map<number, T[]>();
    for (const item of items) {
      const index = partitionOf(idOf(item), count);
      const group = groups.get(index) ?? [];
      group.push(item);
      groups.set(index, group);
    }
    return groups;
  }

  /**
   * {@inheritDoc QueueBackend.enqueue}
   *
   * All or nothing per partition: jobs bound for other partitions are separate calls.
   *
   * @throws {TypeError} When a job's unique key belongs to another partition than its id.
   */
  async enqueue(queue: string, jobs: readonly NewJob[], now: number): Promise<DispatchResult[]> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.enqueue(queue, jobs, now);
    for (const job of jobs) {
      if (
        job.uniqueKey !== undefined &&
        partitionOf(job.uniqueKey, count) !== partitionOf(job.id, count)
      ) {
        throw new TypeError(
          `Job ${job.id}: on a partitioned queue a job with a unique key needs an id of its key's partition (let the queue choose the id)`,
        );
      }
    }
    const results: DispatchResult[] = new Array(jobs.length);
    const places = new Map(jobs.map((job, i) => [job, i]));
    await Promise.all(
      [...this.#group(jobs, (job) => job.id, count)].map(async ([index, group]) => {
        const answers = await this.#inner.enqueue(partitionName(queue, index, count), group, now);
        group.forEach((job, i) => (results[places.get(job)!] = answers[i]));
      }),
    );
    return results;
  }

  /**
   * {@inheritDoc QueueBackend.take}
   *
   * Reserves from one partition, chosen in turn; with `sweep`, goes on through
   * the others until `reserve` jobs are found or every partition was read.
   * Completions go to their own partitions, in parallel.
   */
  async take(request: TakeRequest): Promise<TakeResult> {
    const count = this.partitions(request.queue);
    if (count === 1) return await this.#inner.take(request);
    const rotation = this.#rotation(request.queue, count);
    const complete = this.#settled.size === 0
      ? request.complete
      : request.complete.filter((done) => !this.#settled.delete(settleKey(done)));
    const groups = this.#group(complete, (done) => done.id, count);
    const reserving = request.reserve > 0 ? rotation.pick(request.now) : -1;
    // The heartbeat rides on one call: the reserving one, else the first.
    const beatOn = reserving >= 0 ? reserving : groups.keys().next().value ?? rotation.current;
    const targets = new Set([...groups.keys(), ...(reserving >= 0 ? [reserving] : [])]);
    if (request.heartbeat !== undefined) targets.add(beatOn);
    const calls = [...targets].map((index) => ({
      index,
      complete: groups.get(index) ?? [],
      reserve: index === reserving ? request.reserve : 0,
    }));
    request = { ...request, retain: shareOf(request.retain, count) };
    const settled = await Promise.allSettled(calls.map((call) =>
      this.#inner.take({
        ...request,
        queue: partitionName(request.queue, call.index, count),
        complete: call.complete,
        reserve: call.reserve,
        heartbeat: call.index === beatOn ? request.heartbeat : undefined,
      })
    ));
    const failure = settled.find((outcome) => outcome.status === "rejected");
    if (failure !== undefined) {
      await this.#recover(request, count, calls, settled);
      throw (failure as PromiseRejectedResult).reason;
    }
    const results = settled.map((outcome) => (outcome as PromiseFulfilledResult<TakeResult>).value);
    const jobs: StoredJob[] = [];
    calls.forEach((call, i) => {
      rotation.saw(call.index, results[i].nextDueAt);
      if (call.reserve > 0) jobs.push(...results[i].jobs);
    });
    if (reserving >= 0) {
      rotation.reserved(reserving, jobs.length, request.reserve);
      if (jobs.length < request.reserve && (request.sweep || rotation.warm)) {
        results.push(...await this.#sweep(request, rotation, count, reserving, jobs));
      }
      rotation.warm = jobs.length > 0;
    }
    return {
      lost: results.flatMap((result) => result.lost),
      stalled: results.flatMap((result) => result.stalled),
      stalledOut: results.flatMap((result) => result.stalledOut),
      jobs: jobs.map((job) => ({ ...job, queue: request.queue })),
      nextDueAt: rotation.nextDueAt(),
    };
  }

  /** Reads the other partitions in turn until the reservation is full; their answers. */
  async #sweep(
    request: TakeRequest,
    rotation: Rotation,
    count: number,
    first: number,
    jobs: StoredJob[],
  ): Promise<TakeResult[]> {
    const results: TakeResult[] = [];
    for (let step = 1; step < count && jobs.length < request.reserve; step++) {
      const index = (first + step) % count;
      const wanted = request.reserve - jobs.length;
      let result: TakeResult;
      try {
        result = await this.#inner.take({
          ...request,
          queue: partitionName(request.queue, index, count),
          complete: [],
          reserve: wanted,
          heartbeat: undefined,
        });
      } catch {
        break; // what is reserved goes to the worker; its next poll meets the outage
      }
      rotation.saw(index, result.nextDueAt);
      rotation.reserved(index, result.jobs.length, wanted);
      jobs.push(...result.jobs);
      results.push({ ...result, jobs: [] });
    }
    return results;
  }

  /**
   * After a take whose calls partly failed: remembers the completions that
   * went through (the worker will send them again), and hands back jobs
   * reserved for a worker that will never hear of them.
   */
  async #recover(
    request: TakeRequest,
    count: number,
    calls: readonly { index: number; complete: readonly Completion[]; reserve: number }[],
    settled: readonly PromiseSettledResult<TakeResult>[],
  ): Promise<void> {
    const now = Date.now();
    for (const [key, at] of this.#settled) if (now - at > SETTLED_FOR) this.#settled.delete(key);
    const releases: Promise<unknown>[] = [];
    calls.forEach((call, i) => {
      const outcome = settled[i];
      if (outcome.status !== "fulfilled") return;
      const lost = new Set(outcome.value.lost);
      for (const done of call.complete) {
        if (!lost.has(done.id)) this.#settled.set(settleKey(done), now);
      }
      for (const job of outcome.value.jobs) {
        releases.push(
          this.#inner.fail({
            queue: partitionName(request.queue, call.index, count),
            id: job.id,
            token: request.token,
            now: request.now,
            outcome: "release",
            runAt: request.now,
            undoAttempt: true,
            retain: request.retain,
          }).catch(() => {}), // its lease then ends and the job comes back as a stall
        );
      }
    });
    await Promise.all(releases);
  }

  /** {@inheritDoc QueueBackend.fail} */
  async fail(request: FailRequest): Promise<FailResult> {
    const count = this.partitions(request.queue);
    if (count === 1) return await this.#inner.fail(request);
    const index = partitionOf(request.id, count);
    return await this.#inner.fail({
      ...request,
      queue: partitionName(request.queue, index, count),
      retain: shareOf(request.retain, count),
    });
  }

  /** {@inheritDoc QueueBackend.progress} */
  async progress(queue: string, lease: Lease, value: number): Promise<boolean> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.progress(queue, lease, value);
    return await this.#inner.progress(
      partitionName(queue, partitionOf(lease.id, count), count),
      lease,
      value,
    );
  }

  /** {@inheritDoc QueueBackend.getJob} */
  async getJob(queue: string, id: string): Promise<JobInfo | null> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.getJob(queue, id);
    const job = await this.#inner.getJob(partitionName(queue, partitionOf(id, count), count), id);
    return job === null ? null : { ...job, queue };
  }

  /**
   * {@inheritDoc QueueBackend.findJobs}
   *
   * Listings by dispatch time, and of completed, failed and delayed jobs, read
   * every partition from the same position and merge the pages in the
   * backends' own order (sort value, then id, newest first), so one position
   * is a cursor for them all; a partition that stopped short of its end (a
   * search reads at most so many jobs per call) bounds the merged page.
   * Waiting and active jobs are ordered within their partition only (a
   * priority band is FIFO per partition), so they are listed partition after
   * partition, the cursor naming the partition.
   *
   * @throws {InvalidCursorError} When a partition-by-partition cursor is malformed.
   */
  async findJobs(queue: string, query: BackendJobQuery): Promise<BackendJobPage> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.findJobs(queue, query);
    if (query.id !== undefined) {
      const name = partitionName(queue, partitionOf(query.id, count), count);
      const page = await this.#inner.findJobs(name, query);
      return { ...page, jobs: page.jobs.map((job) => ({ ...job, queue })) };
    }
    const valueOf = sortValue(query);
    if (valueOf === null) return await this.#listInTurn(queue, count, query);
    const pages = await Promise.all(
      Array.from(
        { length: count },
        (_, index) => this.#inner.findJobs(partitionName(queue, index, count), query),
      ),
    );
    let bound: JobPosition | null = null;
    for (const page of pages) {
      if (page.next !== null && (bound === null || before(page.next, bound))) bound = page.next;
    }
    const merged = pages.flatMap((page) => page.jobs)
      .map((job) => ({ job, at: { value: valueOf(job), id: job.id } }))
      .filter(({ at }) => bound === null || !before(bound, at))
      .sort((a, b) => (before(a.at, b.at) ? -1 : before(b.at, a.at) ? 1 : 0))
      .slice(0, query.limit);
    const jobs = merged.map(({ job }) => ({ ...job, queue }));
    if (merged.length === query.limit) return { jobs, next: merged[merged.length - 1].at };
    return { jobs, next: bound };
  }

  /** Lists partition after partition; the cursor's id is `<partition>/<id in it>`. */
  async #listInTurn(queue: string, count: number, query: BackendJobQuery): Promise<BackendJobPage> {
    let first = 0;
    let after: JobPosition | undefined;
    if (query.after !== undefined) {
      const match = /^(0|[1-9][0-9]*)\/(.*)$/s.exec(query.after.id);
      if (match === null || Number(match[1]) >= count) {
        throw new InvalidCursorError("it does not name a partition of this queue");
      }
      first = Number(match[1]);
      after = match[2] === "" ? undefined : { value: query.after.value, id: match[2] };
    }
    const jobs: JobInfo[] = [];
    for (let index = first; index < count; index++) {
      if (jobs.length === query.limit) return { jobs, next: { value: 0, id: `${index}/` } };
      const page = await this.#inner.findJobs(partitionName(queue, index, count), {
        ...query,
        limit: query.limit - jobs.length,
        after: index === first ? after : undefined,
      });
      jobs.push(...page.jobs.map((job) => ({ ...job, queue })));
      if (page.next !== null) {
        return { jobs, next: { value: page.next.value, id: `${index}/${page.next.id}` } };
      }
    }
    return { jobs, next: null };
  }

  /** {@inheritDoc QueueBackend.manage} */
  async manage(queue: string, request: ManageRequest): Promise<number> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.manage(queue, request);
    const groups = request.ids === "all"
      ? this.#names(queue, count).map((name) => [name, "all"] as const)
      : [...this.#group(request.ids, (id) => id, count)].map(([index, ids]) =>
        [partitionName(queue, index, count), ids] as const
      );
    const retain = shareOf(request.retain, count);
    const changed = await Promise.all(
      groups.map(([name, ids]) => this.#inner.manage(name, { ...request, ids, retain })),
    );
    return changed.reduce((sum, n) => sum + n, 0);
  }

  /** {@inheritDoc QueueBackend.setPaused} */
  async setPaused(queue: string, paused: boolean): Promise<void> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.setPaused(queue, paused);
    await Promise.all(this.#names(queue, count).map((name) => this.#inner.setPaused(name, paused)));
  }

  /** {@inheritDoc QueueBackend.extend} */
  async extend(
    queue: string,
    leases: readonly Lease[],
    leaseDuration: number,
    now: number,
    heartbeat?: Heartbeat,
  ): Promise<string[]> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.extend(queue, leases, leaseDuration, now, heartbeat);
    const groups = [...this.#group(leases, (lease) => lease.id, count)];
    if (groups.length === 0) {
      if (heartbeat === undefined) return [];
      groups.push([this.#rotation(queue, count).current, []]);
    }
    const lost = await Promise.all(groups.map(([index, group], i) =>
      this.#inner.extend(
        partitionName(queue, index, count),
        group,
        leaseDuration,
        now,
        i === 0 ? heartbeat : undefined,
      )
    ));
    return lost.flat();
  }

  /** {@inheritDoc QueueBackend.workers} */
  async workers(queue: string, now: number): Promise<WorkerInfo[]> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.workers(queue, now);
    const lists = await Promise.all(
      this.#names(queue, count).map((name) => this.#inner.workers(name, now)),
    );
    // A worker's heartbeat rides on whichever partition it read: its newest is its state.
    const byId = new Map<string, WorkerInfo>();
    for (const worker of lists.flat()) {
      const known = byId.get(worker.id);
      if (known === undefined || known.lastSeen < worker.lastSeen) byId.set(worker.id, worker);
    }
    return [...byId.values()];
  }

  /** {@inheritDoc QueueBackend.metrics} */
  async metrics(
    queue: string,
    resolution: "minute" | "hour",
    from: number,
    to: number,
  ): Promise<MetricBucket[]> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.metrics(queue, resolution, from, to);
    const buckets = mergeBuckets(
      await Promise.all(
        this.#names(queue, count).map((name) => this.#inner.metrics(name, resolution, from, to)),
      ),
    );
    // A partition trims its buckets when it next counts: one not written since may
    // still hold buckets past their keep, which the queue as a whole has dropped.
    const { size, keep } = RESOLUTIONS[resolution];
    const oldest = Math.floor((to - keep) / size) * size;
    return buckets.filter((bucket) => bucket.at >= oldest);
  }

  /** {@inheritDoc QueueBackend.watch} */
  async watch(queue: string, listener: (event: JobEvent) => void): Promise<() => Promise<void>> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.watch(queue, listener);
    const relay = (event: JobEvent) => listener({ ...event, queue });
    const stops = await Promise.allSettled(
      this.#names(queue, count).map((name) => this.#inner.watch(name, relay)),
    );
    const stopAll = async () => {
      await Promise.all(
        stops.map((stop) => stop.status === "fulfilled" ? stop.value() : undefined),
      );
    };
    const failure = stops.find((stop) => stop.status === "rejected");
    if (failure !== undefined) {
      await stopAll().catch(() => {});
      throw (failure as PromiseRejectedResult).reason;
    }
    return stopAll;
  }

  /** {@inheritDoc QueueBackend.counts} */
  async counts(queue: string): Promise<QueueCounts> {
    const count = this.partitions(queue);
    if (count === 1) return await this.#inner.counts(queue);
    const parts = await Promise.all(
      this.#names(queue, count).map((name) => this.#inner.counts(name)),
    );
    const sum = (field: "ready" | "delayed" | "active" | "failed" | "completed") =>
      parts.reduce((total, part) => total + part[field], 0);
    return {
      ready: sum("ready"),
      delayed: sum("delayed"),
      active: sum("active"),
      failed: sum("failed"),
      completed: sum("completed"),
      // A pause that reached only some partitions (an outage mid-way) shows, so it can be redone.
      paused: parts.some((part) => part.paused),
    };
  }

  /** {@inheritDoc QueueBackend.queues} */
  async queues(): Promise<string[]> {
    const names = new Set<string>();
    for (const name of await this.#inner.queues()) names.add(this.#ownerOf(name)?.queue ?? name);
    return [...names].sort();
  }

  /** {@inheritDoc QueueBackend.onEnqueue} */
  onEnqueue(listener: (queue: string) => void): () => void {
    const off = this.#inner.onEnqueue?.((name) => {
      const owner = this.#ownerOf(name);
      if (owner === null) return listener(name);
      // The next take of this process reads the partition that just got a job.
      this.#rotation(owner.queue, this.#partitions(owner.queue)).hint(owner.index);
      listener(owner.queue);
    });
    return off ?? (() => {});
  }

  /**
   * {@inheritDoc QueueBackend.workflow}
   *
   * @throws {TypeError} On a partitioned queue: a chain's or batch's state and
   *   its jobs change in one script, so they need one hash slot.
   */
  async workflow(queue: string, request: WorkflowRequest): Promise<boolean> {
    return await this.#inner.workflow(this.#whole(queue, "Chains and batches"), request);
  }

  /** {@inheritDoc QueueBackend.chainInfo} */
  async chainInfo(queue: string, id: string): Promise<ChainInfo | null> {
    return await this.#inner.chainInfo(this.#whole(queue, "Chains"), id);
  }

  /** {@inheritDoc QueueBackend.batchInfo} */
  async batchInfo(queue: string, id: string): Promise<BatchInfo | null> {
    return await this.#inner.batchInfo(this.#whole(queue, "Batches"), id);
  }

  /** The queue's name when it is not partitioned; a TypeError naming `what` when it is. */
  #whole(queue: string, what: string): string {
    if (this.partitions(queue) === 1) return queue;
    throw new TypeError(
      `${what} need one hash slot: queue "${queue}" is partitioned, so it cannot hold them`,
    );
  }

  /** {@inheritDoc Limiter.lock} */
  lock(key: string, token: string, ttl: number, now: number): Promise<boolean> {
    return this.#inner.lock(key, token, ttl, now);
  }

  /** {@inheritDoc Limiter.unlock} */
  unlock(key: string, token: string): Promise<void> {
    return this.#inner.unlock(key, token);
  }

  /** {@inheritDoc Limiter.hit} */
  hit(
    key: string,
    token: string,
    max: number,
    window: number,
    now: number,
  ): Promise<{ allowed: boolean; retryAfter: number }> {
    return this.#inner.hit(key, token, max, window, now);
  }
}

/**
 * A partition's share of a queue's retention: each keeps its newest
 * `count / partitions` (rounded up), so the queue keeps about `count`.
 */
function shareOf(retain: Retention | undefined, count: number): Retention | undefined {
  if (retain === undefined) return undefined;
  // A queue passes the same retention object on every call: share it out once.
  const known = shares.get(retain);
  if (known?.count === count) return known.share;
  const share = shareOut(retain, count);
  shares.set(retain, { count, share });
  return share;
}

const shares = new WeakMap<Retention, { count: number; share: Retention }>();

function shareOut(retain: Retention, count: number): Retention {
  const share = (limit: RetainLimit): RetainLimit => ({
    count: Math.ceil(limit.count / count),
    age: limit.age,
  });
  return {
    completed: retain.completed === false ? false : share(retain.completed),
    failed: share(retain.failed),
  };
}

function settleKey(lease: Lease): string {
  return `${lease.id}\0${lease.token}`;
}

/**
 * How a listing is sorted, as the backends sort it: by dispatch time, or for
 * a plain state listing by the state's own order, which the job's info
 * carries for completed, failed and delayed jobs; `null` for waiting and
 * active jobs, whose order (band and FIFO place, lease deadline) it does not.
 */
function sortValue(query: BackendJobQuery): ((job: JobInfo) => number) | null {
  const plainState = query.state !== undefined && query.since === undefined &&
    query.until === undefined && query.name === undefined && query.tag === undefined;
  if (!plainState) return (job) => job.createdAt;
  switch (query.state) {
    case "completed":
    case "failed":
      return (job) => job.finishedAt ?? 0;
    case "delayed":
      return (job) => job.runAt ?? 0;
    default:
      return null;
  }
}
