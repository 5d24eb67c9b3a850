// A client for etcd's v3 API through its documented JSON gateway (gRPC-gateway: POST /v3/kv/range,
// /v3/kv/txn, /v3/watch, /v3/lease/grant|keepalive|revoke; keys and values base64, 64-bit numbers
// as decimal strings), over fetch. The npm client `etcd3` needs @grpc/grpc-js; under Deno 2.9 its
// unary calls work but a watch never delivers an event (tried: put, get, watch of one key), and a
// store we cannot watch is no store for a control plane. The gateway is part of etcd itself
// (etcd 3.4: https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/).
//
// Several endpoints (the members of one etcd cluster): a request that cannot reach one tries the
// next, and the one that answered is tried first next time. TLS (https) when a CA or client
// certificate is given, through Deno.createHttpClient.

/** etcd refused a request (HTTP error, or an error in its JSON answer); the message is etcd's. */
export class EtcdError extends Error {
  override name = "EtcdError";
}

/** No member of the cluster answered: the message names every endpoint tried. */
export class EtcdUnreachableError extends EtcdError {
  override name = "EtcdUnreachableError";
}

/** The revision asked for is older than etcd's compaction: history is gone, resync in full. */
export class EtcdCompactedError extends EtcdError {
  override name = "EtcdCompactedError";
  constructor(readonly compactRevision: number) {
    super(`revision compacted (etcd keeps history from ${compactRevision})`);
  }
}

/** TLS to etcd (--cluster-store-ca/-cert/-key); none: plain http. */
export interface EtcdTls {
  /** PEM text of the CA that signed the members' certificates. */
  ca?: string;
  /** PEM text of this client's certificate and key (etcd --client-cert-auth). */
  cert?: string;
  key?: string;
}

/** Where etcd is: the URL as given, one base URL per member, and TLS. */
export interface EtcdConfig {
  /** `etcd://H1:2379,H2:2379` as given to --cluster-store. */
  url: string;
  endpoints: string[];
  tls: EtcdTls;
}

/**
 * Parses Docker's `--cluster-store etcd://H1:2379,H2:2379` (classic overlay networks, Docker
 * 1.9–1.12). Hosts are IPv4 addresses or names, each with a port (default 2379).
 * @throws EtcdError naming the part that is wrong.
 */
export function parseClusterStore(url: string, tls: EtcdTls = {}): EtcdConfig {
  const m = /^etcd:\/\/([^/?#]+)\/?$/.exec(url);
  if (!m) {
    throw new EtcdError(
      `invalid --cluster-store "${url.slice(0, 80)}": expected etcd://HOST:PORT[,HOST:PORT...]`,
    );
  }
  const scheme = tls.ca || tls.cert ? "https" : "http";
  const endpoints = m[1].split(",").map((hp) => {
    const p = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(hp);
    const port = p ? Number(p[2] ?? 2379) : 0;
    if (!p || port < 1 || port > 65535) {
      throw new EtcdError(`invalid --cluster-store member "${hp.slice(0, 40)}": expected HOST:PORT`);
    }
    return `${scheme}://${p[1]}:${port}`;
  });
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new EtcdError("--cluster-store-cert and --cluster-store-key go together");
  }
  return { url, endpoints, tls };
}

/** An etcd key-value (mvccpb.KeyValue), key and value decoded to text. */
export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  lease?: string;
}

/** One event of a watch: a put or a delete of `kv.key` at `kv.modRevision`. */
export interface WatchEvent {
  type: "PUT" | "DELETE";
  kv: KeyValue;
}

/** A txn compare (etcdserverpb.Compare, EQUAL only). */
export type Compare =
  | { key: string; createRevision: 0 } // the key does not exist
  | { key: string; modRevision: number } // unchanged since that revision
  | { key: string; value: string };

/** A txn request: put (with a lease: ephemeral), delete one key, or delete a prefix. */
export type TxnOp =
  | { put: string; value: string; lease?: string }
  | { del: string }
  | { delPrefix: string };

const REQUEST_MS = 3000;
const enc = new TextEncoder();
const dec = new TextDecoder();

function b64(s: string): string {
  const bytes = enc.encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function unb64(s: string | undefined): string {
  if (!s) return "";
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return dec.decode(bytes);
}

/** The key after every key with this prefix (etcd's range_end for a prefix). */
function prefixEnd(prefix: string): string {
  const bytes = enc.encode(prefix);
  let i = bytes.length - 1;
  while (i >= 0 && bytes[i] === 0xff) i--;
  const end = bytes.slice(0, i + 1);
  end[i]++;
  let bin = "";
  for (const b of end) bin += String.fromCharCode(b);
  return btoa(bin);
}

function kvOf(k: Record<string, string>): KeyValue {
  return {
    key: unb64(k.key),
    value: unb64(k.value),
    createRevision: Number(k.create_revision ?? 0),
    modRevision: Number(k.mod_revision ?? 0),
    lease: k.lease,
  };
}

function compareJson(c: Compare) {
  if ("createRevision" in c) {
    return { key: b64(c.key), target: "CREATE", result: "EQUAL", create_revision: "0" };
  }
  if ("modRevision" in c) {
    return { key: b64(c.key), target: "MOD", result: "EQUAL", mod_revision: String(c.modRevision) };
  }
  return { key: b64(c.key), target: "VALUE", result: "EQUAL", value: b64(c.value) };
}

function opJson(o: TxnOp) {
  if ("put" in o) return { request_put: { key: b64(o.put), value: b64(o.value), lease: o.lease } };
  if ("del" in o) return { request_delete_range: { key: b64(o.del) } };
  return { request_delete_range: { key: b64(o.delPrefix), range_end: prefixEnd(o.delPrefix) } };
}

/** A client of one etcd cluster over its JSON gateway; REQUEST_MS (3 s) per request and member. */
export class Etcd {
  private readonly client?: Deno.HttpClient;
  /** Index of the endpoint that answered last: tried first. */
  private current = 0;

  constructor(readonly config: EtcdConfig) {
    const t = config.tls;
    if (t.ca || t.cert) {
      this.client = Deno.createHttpClient({
        caCerts: t.ca ? [t.ca] : undefined,
        cert: t.cert,
        key: t.key,
      } as Deno.CreateHttpClientOptions);
    }
  }

  /** Stops the HTTP client (its TLS connections). */
  close(): void {
    this.client?.close();
  }

  /** POST to the first member that answers; an HTTP error from etcd is an EtcdError. */
  private async call(path: string, body: unknown, ms = REQUEST_MS): Promise<Record<string, any>> {
    const n = this.config.endpoints.length;
    const why: string[] = [];
    for (let i = 0; i < n; i++) {
      const idx = (this.current + i) % n;
      const ep = this.config.endpoints[idx];
      let res: Response;
      try {
        res = await fetch(`${ep}${path}`, {
          method: "POST",
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(ms),
          client: this.client,
        } as RequestInit);
      } catch (e) {
        why.push(`${ep}: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
        continue;
      }
      let data: Record<string, any>;
      try {
        data = await res.json();
      } catch {
        why.push(`${ep}: answered HTTP ${res.status} without JSON: not an etcd v3 gateway?`);
        continue;
      }
      // A member without quorum answers 503-ish errors ("etcdserver: no leader"): try another.
      if (!res.ok) {
        // The gateway's error is a string or {message, code, …} depending on the path.
        const err = data.error;
        const msg = String(
          (typeof err === "object" ? err?.message : err) ?? data.message ?? `HTTP ${res.status}`,
        );
        if (/no leader|timed out|unavailable|not capable|stopped/i.test(msg)) {
          why.push(`${ep}: ${msg}`);
          continue;
        }
        throw new EtcdError(`etcd at ${ep}: ${msg}`);
      }
      this.current = idx;
      return data;
    }
    throw new EtcdUnreachableError(`cannot reach the cluster store ${this.config.url} (${why.join("; ")})`);
  }

  /** Every key under the prefix, and the store's revision at that read. */
  async range(prefix: string, revision = 0): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call("/v3/kv/range", {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
      revision: revision ? String(revision) : undefined,
    }, 15000);
    return { kvs: (r.kvs ?? []).map(kvOf), revision: Number(r.header?.revision ?? 0) };
  }

  /** The store's revision now (a linearizable read of one key's count). */
  async revision(): Promise<number> {
    const r = await this.call("/v3/kv/range", { key: b64("/"), count_only: true });
    return Number(r.header?.revision ?? 0);
  }

  /** One key, or undefined. @throws EtcdError, EtcdUnreachableError. */
  async get(key: string): Promise<KeyValue | undefined> {
    const r = await this.call("/v3/kv/range", { key: b64(key) });
    return r.kvs?.length ? kvOf(r.kvs[0]) : undefined;
  }

  /**
   * All compares hold → every op, atomically (etcd's Txn). Returns whether they held and the
   * revision after the transaction.
   */
  async txn(
    compare: Compare[],
    success: TxnOp[],
    failure: TxnOp[] = [],
  ): Promise<{ ok: boolean; revision: number }> {
    const r = await this.call("/v3/kv/txn", {
      compare: compare.map(compareJson),
      success: success.map(opJson),
      failure: failure.map(opJson),
    });
    return { ok: r.succeeded === true, revision: Number(r.header?.revision ?? 0) };
  }

  /** A new lease of `ttlSeconds` seconds; its id (decimal string). @throws EtcdError. */
  async leaseGrant(ttlSeconds: number): Promise<string> {
    const r = await this.call("/v3/lease/grant", { TTL: String(ttlSeconds) });
    if (!r.ID) throw new EtcdError(`etcd granted no lease: ${r.error ?? JSON.stringify(r).slice(0, 80)}`);
    return String(r.ID);
  }

  /** Renews the lease; false when etcd no longer has it (expired: TTL 0). */
  async leaseKeepAlive(id: string): Promise<boolean> {
    const r = await this.call("/v3/lease/keepalive", { ID: id });
    return Number(r.result?.TTL ?? 0) > 0;
  }

  /** Revokes a lease: its keys go at once. @throws EtcdError. */
  async leaseRevoke(id: string): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: id }).catch(() => {});
  }

  /**
   * Watches a prefix from a revision on, calling `onEvents` with each batch and the revision it
   * brings the watcher to. Reconnects (to any member) until `signal` aborts. A start revision
   * older than compaction calls `onCompacted` and stops. Never rejects: a failed member is
   * reported through `onState(false, why)` and the next one tried after 200–500 ms.
   */
  async watch(
    prefix: string,
    startRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    signal: AbortSignal,
    onCompacted: (compactRevision: number) => void,
    onState: (connected: boolean, why?: string) => void = () => {},
  ): Promise<void> {
    let next = startRevision;
    while (!signal.aborted) {
      const n = this.config.endpoints.length;
      const ep = this.config.endpoints[this.current % n];
      try {
        const res = await fetch(`${ep}/v3/watch`, {
          method: "POST",
          body: JSON.stringify({
            create_request: {
              key: b64(prefix),
              range_end: prefixEnd(prefix),
              start_revision: String(next),
              prev_kv: true,
              progress_notify: true,
            },
          }),
          signal,
          client: this.client,
        } as RequestInit);
        if (!res.ok || !res.body) throw new EtcdError(`watch: HTTP ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const msg = JSON.parse(line);
            const r = msg.result;
            if (!r) throw new EtcdError(`watch: ${msg.error?.message ?? line.slice(0, 80)}`);
            if (r.created) onState(true);
            if (Number(r.compact_revision ?? 0) > 0) {
              onCompacted(Number(r.compact_revision));
              return;
            }
            if (r.canceled) throw new EtcdError(`watch canceled: ${r.cancel_reason ?? ""}`);
            const rev = Number(r.header?.revision ?? 0);
            const events: WatchEvent[] = (r.events ?? []).map((e: Record<string, any>) => ({
              type: e.type === "DELETE" ? "DELETE" : "PUT",
              kv: kvOf(e.kv),
            }));
            if (events.length) {
              next = events[events.length - 1].kv.modRevision + 1;
              onEvents(events, next - 1);
            } else if (!r.created && rev >= next) {
              // A progress notification: everything up to rev has been sent.
              next = rev + 1;
              onEvents([], rev);
            }
          }
        }
        if (!signal.aborted) onState(false, `the member at ${ep} ended the watch`);
      } catch (e) {
        if (signal.aborted) return;
        onState(false, `${ep}: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
      }
      if (signal.aborted) return;
      this.current = (this.current + 1) % n;
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
    }
  }
}
