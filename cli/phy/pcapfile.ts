// A pcap file the data-plane worker appends to with writev(): opened here with libc so the fd
// can cross into the worker (Deno file handles are per isolate). The global header comes from
// cli/pcap/pcap.ts; the worker writes record headers in the same format (recordHeader()).

import { PcapWriter } from "../pcap/pcap.ts";
import { check } from "../sys/errno.ts";
import { addressOf, cString, libc, O_CLOEXEC, O_CREAT, O_TRUNC, O_WRONLY } from "../sys/libc.ts";

const FILE_MODE = 0o644;

/**
 * Creates (or truncates) the pcap file at `path`, mode 0644, and writes its global header
 * (PcapWriter: classic pcap, LINKTYPE_ETHERNET); returns the fd, open for writing, close-on-exec.
 * @throws {SysError} open() (ENOENT: no such directory, EACCES) or a short write of the header.
 */
export function openPcap(path: string): number {
  const c = libc();
  const fd = check(
    c.open(cString(path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE),
    "open",
    `cannot create pcap file ${path}`,
  );
  const header = new Uint8Array(128);
  const global = new PcapWriter().bytes();
  header.set(global);
  if (c.write(fd, BigInt(addressOf(header)), BigInt(global.length)) !== global.length) {
    c.close(fd);
    check(-1, "write", `cannot write pcap file ${path}`);
  }
  return fd;
}
