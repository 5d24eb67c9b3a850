// The main thread's handle on the data-plane worker: start it with the fds, ask it for the FDB
// or counters, stop it. Each message is announced on an eventfd, since the worker sits in poll().

import { check } from "../sys/errno.ts";
import { addressOf, EFD_CLOEXEC, EFD_NONBLOCK, libc } from "../sys/libc.ts";
import type { FdbReply, FromWorker, StartConfig, StatsReply, ToWorker } from "./protocol.ts";

export class DataplaneError extends Error {
  override name = "DataplaneError";
}

export class Dataplane {
  private readonly worker: Worker;
  readonly wakeFd: number;
  private readonly one = new ArrayBuffer(128);
  private nextId = 1;
  private readonly pending = new Map<number, (data: unknown) => void>();
  private stopped?: () => void;
  /** Rejects when the worker dies; the vtep shuts down then. */
  readonly failed: Promise<never>;
  private fail!: (e: Error) => void;

  private constructor(worker: Worker, wakeFd: number) {
    this.worker = worker;
    this.wakeFd = wakeFd;
    new DataView(this.one).setUint32(0, 1, true);
    this.failed = new Promise((_, reject) => (this.fail = reject));
    this.failed.catch(() => {});
  }

  /** Spawns the worker, hands it the fds, and resolves once it is switching frames. */
  static async start(config: Omit<StartConfig, "wakeFd">): Promise<Dataplane> {
    const wakeFd = check(
      libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
      "eventfd",
      "cannot create an eventfd",
    );
    const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    const dp = new Dataplane(worker, wakeFd);
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "ready") resolve();
        else if (m.type === "fatal") {
          const err = new DataplaneError(`data plane failed: ${m.message}`);
          reject(err);
          dp.fail(err);
        } else if (m.type === "reply") {
          dp.pending.get(m.id)?.(m.data);
          dp.pending.delete(m.id);
        } else if (m.type === "stopped") dp.stopped?.();
      };
      worker.onerror = (e) => {
        e.preventDefault();
        const err = new DataplaneError(`data plane failed: ${e.message}`);
        reject(err);
        dp.fail(err);
      };
    });
    worker.postMessage({ type: "start", config: { ...config, wakeFd } } satisfies ToWorker);
    try {
      await ready;
    } catch (e) {
      worker.terminate();
      libc().close(wakeFd);
      throw e;
    }
    return dp;
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
    libc().write(this.wakeFd, addressOf(new Uint8Array(this.one)), 8);
  }

  private request<T>(type: "fdb" | "stats"): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, resolve as (d: unknown) => void);
      this.send({ type, id });
      this.failed.catch(reject);
    });
  }

  fdb(): Promise<FdbReply> {
    return this.request("fdb");
  }

  stats(): Promise<StatsReply> {
    return this.request("stats");
  }

  /** Stops the loop (the worker leaves poll() at once) and ends the worker. */
  async stop(timeoutMs = 2000): Promise<void> {
    const done = new Promise<void>((resolve) => (this.stopped = resolve));
    this.send({ type: "stop" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      done,
      this.failed.catch(() => {}),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
    this.worker.terminate();
    libc().close(this.wakeFd);
  }
}
