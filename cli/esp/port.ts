// The UDP port of ESP in UDP: one per swarm, chosen at `weft swarm init --esp-port N` and kept in
// the swarm record, as Docker's `--data-path-port` is for VXLAN. Every node listens on it and
// sends to it; a node joining learns it from the manager's welcome (cli/control/swarm/agent.ts).

/** UDP port of ESP in UDP (RFC 3948 §2; IKE's NAT-T port), the swarm's default. */
export const ESP_PORT = 4500;
/** Docker's range for `--data-path-port` (registered ports, none of the dynamic ones), kept for `--esp-port`. */
export const ESP_PORT_MIN = 1024;
export const ESP_PORT_MAX = 49151;

/**
 * Why `port` (a number, or the flag's text) cannot be the swarm's ESP port, in one line for the
 * user; undefined when it can. It must be an integer in ESP_PORT_MIN..ESP_PORT_MAX and differ
 * from the VXLAN port `dataPathPort`: both sockets bind the same address.
 */
export function espPortProblem(port: unknown, dataPathPort: number): string | undefined {
  const n = typeof port === "string" && /^\d{1,5}$/.test(port) ? Number(port) : port;
  if (typeof n !== "number" || !Number.isInteger(n) || n < ESP_PORT_MIN || n > ESP_PORT_MAX) {
    return `--esp-port must be in ${ESP_PORT_MIN}..${ESP_PORT_MAX}, got "${port}"`;
  }
  if (n === dataPathPort) {
    return `--esp-port must differ from the data path port (VXLAN), both are ${n}`;
  }
  return undefined;
}
