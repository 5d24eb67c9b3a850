// Addresses as the core stores them: 16 bytes, IPv4 IPv4-mapped (::ffff:a.b.c.d); MACs as 6 bytes.
// Plain TypeScript, no runtime APIs: this file is bundled for Node and browsers too.

/** An address, MAC or endpoint text that does not parse; the message quotes it. */
export class AddressError extends Error {
  override name = "AddressError";
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad IPv4 (four decimal parts 0..255) into 4 bytes, or null. */
export function parseIpv4(text: string): Uint8Array | null {
  const m = IPV4.exec(text);
  if (!m) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255 || (m[i + 1].length > 1 && m[i + 1][0] === "0")) return null;
    out[i] = v;
  }
  return out;
}

/** Parses an IPv6 address (RFC 4291 §2.2 text forms, with an embedded IPv4 tail) into 16
 *  bytes, or null. */
export function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length < 2) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const words = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Any IP address as the core's 16-byte form (IPv4 as ::ffff:a.b.c.d, RFC 4291 §2.5.5.2).
 *  @throws {AddressError} when the text is neither. */
export function parseIp(text: string): Uint8Array {
  const v4 = parseIpv4(text);
  if (v4) return mapIpv4(v4);
  const v6 = parseIpv6(text);
  if (v6) return v6;
  throw new AddressError(`Invalid IP address "${text}": expected dotted IPv4 or IPv6`);
}

/** 4 IPv4 bytes as the 16-byte IPv4-mapped form. */
export function mapIpv4(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

/** Whether 16 bytes hold an IPv4-mapped address (::ffff:0:0/96). */
export function isMappedIpv4(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** The 16-byte form as text: dotted IPv4 when mapped, else RFC 5952 IPv6 ("2001:db8::2"). */
export function formatIp(a: Uint8Array): string {
  if (isMappedIpv4(a)) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((a[i] << 8) | a[i + 1]);
  // RFC 5952: compress the longest run (≥ 2) of zero words.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** "host:port", "[v6]:port" or a bare address (then `defaultPort`, e.g. VXLAN_PORT).
 *  @throws {AddressError} for a bad address or a port outside 1..65535. */
export function parseEndpoint(text: string, defaultPort: number): { address: Uint8Array; port: number } {
  let host = text, port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    if (bracket[2]) port = Number(bracket[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const i = text.indexOf(":");
    host = text.slice(0, i);
    port = Number(text.slice(i + 1));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AddressError(`Invalid UDP port in "${text}": expected 1..65535`);
  }
  return { address: parseIp(host), port };
}

/** parseEndpoint's inverse: "198.18.0.2:4789", "[2001:db8::2]:4789". */
export function formatEndpoint(a: Uint8Array, port: number): string {
  return isMappedIpv4(a) ? `${formatIp(a)}:${port}` : `[${formatIp(a)}]:${port}`;
}

/** "02:42:0a:00:00:01" (or with "-") as 6 bytes.
 *  @throws {AddressError} for anything but six hex pairs with one separator. */
export function parseMac(text: string): Uint8Array {
  const m =
    /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/
      .exec(text);
  if (!m) {
    throw new AddressError(`Invalid MAC address "${text}": expected six hex pairs like 02:42:0a:00:00:01`);
  }
  return Uint8Array.from([m[1], m[3], m[4], m[5], m[6], m[7]].map((h) => parseInt(h, 16)));
}

/** The first 6 bytes as "02:42:0a:00:00:01" (lower-case, the kernel's and Docker's form). */
export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}
