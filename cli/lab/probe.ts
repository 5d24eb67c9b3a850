// Observations in a lab (cli/lab/lab.ts): a bounded TCP transfer, links appearing or gone, UDP
// sockets, ping and `ip link` output.

import type { Lab } from "./lab.ts";
import type { Output } from "./run.ts";
import { GaveUp, type Process, run, waitFor } from "./run.ts";

/**
 * A bounded TCP transfer from `from` to `toAddr` (iperf3 server in `to`): `bytes` must be sent
 * within the timeout, which TCP's window allows only as fast as the receiver acknowledges. A path
 * that stalls (bad checksums, broken segmentation or coalescing, retransmission storms) fails
 * here; how fast it goes is the benchmark's business.
 * @throws GaveUp when the transfer fails; Error when the server never listens within 5 s.
 */
export async function tcpTransfer(
  lab: Lab,
  from: string,
  to: string,
  toAddr: string,
  { bytes = "20M", timeoutMs = 30000 } = {},
): Promise<{ gbps: number; retransmits: number }> {
  const server = lab.spawn(to, ["iperf3", "-s", "-1", "-B", toAddr], "iperf3 -s");
  try {
    // The server listens within a moment: the client is retried while it is refused.
    return await waitFor(
      `iperf3 -c ${toAddr} in ${from}`,
      async () => {
        const r = await lab.exec(from, ["iperf3", "-c", toAddr, "-n", bytes, "-J"], { timeoutMs });
        let report: any = {};
        try {
          report = JSON.parse(r.stdout);
        } catch { /* not JSON: reported below */ }
        const end = report.end;
        if (r.code === 0 && !report.error && end?.sum_received) {
          return {
            gbps: end.sum_received.bits_per_second / 1e9,
            retransmits: end.sum_sent?.retransmits ?? 0,
          };
        }
        const why = `${report.error ?? ""} ${r.stdout.slice(0, 300)} ${r.stderr}`;
        const failed = `${bytes} over TCP ${from} → ${toAddr} did not complete: ${why}`;
        throw /Connection refused|unable to connect/.test(why) ? new Error(failed) : new GaveUp(failed);
      },
      5000,
      200,
    );
  } finally {
    await server.stop(2000);
  }
}

/**
 * Asserts that `dev` is absent from namespace `ns` for the right reason: `ip` says the device "does
 * not exist". A failed probe (no such namespace, `ip` killed by its timeout) is not that evidence.
 */
export async function assertNoLink(ns: string, dev: string, message: string): Promise<void> {
  const r = await run(["ip", "-n", ns, "link", "show", dev]);
  if (r.code === 0) throw new Error(`${message}: ${dev} is still in ${ns}`);
  if (!/does not exist/.test(r.stderr)) {
    throw new Error(`${message}: the probe of ${dev} in ${ns} failed otherwise (${r.code}): ${r.stderr}`);
  }
}

/** `ss -Huan` in `ns` (its UDP sockets), from a listing that worked: exit 0, nothing on stderr. */
export async function udpSockets(ns: string): Promise<string> {
  const r = await run(["ip", "netns", "exec", ns, "ss", "-Huan"]);
  if (r.code !== 0 || r.stderr.trim() !== "") throw new Error(`ss in ${ns} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Polls until `dev` exists in namespace `ns`, which `owner` (a TAP's process) creates or moves there.
 * @throws Error when `owner` exits first or `timeoutMs` passes.
 */
export async function waitForLink(ns: string, dev: string, owner: Process, timeoutMs = 10000): Promise<void> {
  try {
    await waitFor(`${dev} in ${ns}`, async () => {
      if (!owner.running) throw new GaveUp(`${owner.name} exited early: ${await owner.stderr}`);
      return (await run(["ip", "-n", ns, "link", "show", dev])).code === 0;
    }, timeoutMs);
  } catch (e) {
    if (e instanceof GaveUp) throw e;
    throw new Error(`${owner.name}: no ${dev} in ${ns} within ${timeoutMs} ms`);
  }
}

/**
 * `ping -M do -s PAYLOAD -c COUNT -i 0.2 -W WAIT DST` in `ns`: echo requests of `payload` bytes of
 * ICMP data (an IPv4 packet of payload + 28) that nothing may fragment (DF); `waitS` seconds per reply.
 */
export function pingDf(
  lab: Lab,
  ns: string,
  dst: string,
  payload: number,
  { count = 2, waitS = 1 } = {},
): Promise<Output> {
  const opts = ["-M", "do", "-s", String(payload), "-c", String(count), "-i", "0.2", "-W", String(waitS)];
  return lab.exec(ns, ["ping", ...opts, dst]);
}

/** Ping summary: success and average RTT in ms. */
export function pingRtt(out: string): number | undefined {
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  return m ? Number(m[1]) : undefined;
}

/** The MAC address in `ip link show` output. @throws Error when there is none. */
export function macOf(out: string): string {
  const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
  if (!m) throw new Error(`no MAC in: ${out}`);
  return m[1];
}
