// The main thread's handle on the data-plane worker (`weft vtep` and the daemon use the same):
// start it with the underlay socket, send it ops, ask it for the FDB or counters, stop it. Each
// message is announced on an eventfd, since the worker sits in poll().

import { check } from "../sys/errno.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, libc } from "../sys/libc.ts";
import { region } from "../sys/mem.ts";
import type { DpOp, FdbReply, FromWorker, StartConfig, StatsReply, ToWorker } from "./protocol.ts";

/** How long stop() waits for the worker to leave its loop before terminating it. */
const STOP_TIMEOUT_MS = 2000;
/**
 * How often the main thread advances the worker's seconds clock. The worker reads the clock each
 * burst; a shared Int32 is one load where performance.now() is a runtime call, which costs a
 * frame microseconds when the worker wakes cold.
 */
export const CLOCK_TICK_MS = 500;

/** The worker died ("data plane failed: …"), refused ops ("data plane: vni.add: …", the names
 *  of the ops that failed), or was asked something after stop(). */
export class DataplaneError extends Error {
  override name = "DataplaneError";
}

type Pending = { resolve: (data: unknown) => void; reject: (e: Error) => void };

/**
 * The main thread's handle on the data-plane worker (cli/dataplane/worker.ts, which holds the
 * Wasm core and the frame loop). Every request is a message plus an eventfd write; replies come
 * back in order of the worker's turns. Made by start(); NodeVtep.open starts one.
 */
export class DataplaneWorker {
  private readonly worker: Worker;
  private readonly wakeFd: number;
  /** The eventfd increment, as the u64 write(2) takes. */
  private readonly one = region(8);
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopped?: () => void;
  private closed = false;
  private clockTimer?: ReturnType<typeof setInterval>;
  /** Rejects when the worker dies. */
  readonly failed: Promise<never>;
  private fail!: (e: Error) => void;

  private constructor(worker: Worker, wakeFd: number) {
    this.worker = worker;
    this.wakeFd = wakeFd;
    this.one.view.setUint32(0, 1, true);
    this.failed = new Promise((_, reject) => (this.fail = reject));
    this.failed.catch(() => {});
  }

  /** Spawns the worker, hands it the underlay socket and the other fds in `config`, starts the
   *  seconds clock (CLOCK_TICK_MS), and resolves once the worker is polling.
   *  @throws {SysError} eventfd() failed. {DataplaneError} the worker failed to start (the core
   *  did not load, a CoreError at init): it is terminated and the eventfd closed. */
  static async start(config: Omit<StartConfig, "wakeFd" | "clock">): Promise<DataplaneWorker> {
    const wakeFd = check(
      libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
      "eventfd",
      "cannot create an eventfd",
    );
    const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    const dp = new DataplaneWorker(worker, wakeFd);
    const clock = new Int32Array(new SharedArrayBuffer(4));
    const origin = performance.now();
    const tick = () => (clock[0] = Math.floor((performance.now() - origin) / 1000) + 1);
    tick();
    const timer = setInterval(tick, CLOCK_TICK_MS);
    Deno.unrefTimer(timer);
    dp.clockTimer = timer;
    const ready = new Promise<void>((resolve, reject) => {
      const die = (message: string) => {
        const err = new DataplaneError(`data plane failed: ${message}`);
        reject(err);
        dp.die(err);
      };
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "ready") resolve();
        else if (m.type === "fatal") die(m.message);
        else if (m.type === "reply") dp.settle(m.id, m.data, m.error);
        else if (m.type === "stopped") dp.stopped?.();
      };
      worker.onerror = (e) => {
        e.preventDefault();
        die(e.message);
      };
    });
    worker.postMessage(
      { type: "start", config: { ...config, wakeFd, clock: clock.buffer } } satisfies ToWorker,
    );
    try {
      await ready;
    } catch (e) {
      clearInterval(dp.clockTimer);
      worker.terminate();
      libc().close(wakeFd);
      throw e;
    }
    return dp;
  }

  private settle(id: number, data: unknown, error?: string): void {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (error) p?.reject(new DataplaneError(`data plane: ${error}`));
    else p?.resolve(data);
  }

  private die(e: Error): void {
    this.fail(e);
    this.rejectPending(e);
  }

  private rejectPending(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
    libc().write(this.wakeFd, this.one.ptr, 8n);
  }

  private request<T>(m: { type: "fdb" | "stats" } | { type: "ops"; ops: DpOp[] }): Promise<T> {
    if (this.closed) return Promise.reject(new DataplaneError("the data plane is stopped"));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject });
      this.send({ ...m, id });
    });
  }

  /** Applies ops in order (protocol.ts DpOp); resolves once all are applied.
   *  @throws {DataplaneError} naming the ops that failed with their CoreError messages (the rest
   *  are applied), or when the worker is stopped or dead. */
  async ops(ops: DpOp[]): Promise<void> {
    if (ops.length) await this.request({ type: "ops", ops });
  }

  /** Every live FDB entry (after a full ageing sweep), with where it points and the table's fill.
   *  @throws {DataplaneError} when the worker is stopped or dead. */
  fdb(): Promise<FdbReply> {
    return this.request({ type: "fdb" });
  }

  /** The core's counters per VNI, port and VTEP, and the host side's IoCounters.
   *  @throws {DataplaneError} when the worker is stopped or dead. */
  stats(): Promise<StatsReply> {
    return this.request({ type: "stats" });
  }

  /** Stops the loop (the worker leaves poll() at once) and ends the worker, terminating it after
   *  `timeoutMs` (default STOP_TIMEOUT_MS, 2000 ms); pending requests reject. The fds handed to it
   *  stay open: their owner (NodeVtep) closes them. Never throws; a second call does nothing. */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => (this.stopped = resolve));
    this.send({ type: "stop" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      done,
      this.failed.catch(() => {}),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
    clearInterval(this.clockTimer);
    this.worker.terminate();
    libc().close(this.wakeFd);
    this.rejectPending(new DataplaneError("the data plane stopped"));
  }
}
