// Messages between the daemon's main thread and its data-plane worker. Unlike the standalone
// vtep's worker (cli/dataplane/, one VNI fixed at start), the daemon's changes at run time: VNIs,
// TAP ports, remote endpoints and flood lists come and go as the control plane says.

export type DpOp =
  | { op: "vni.add"; vni: number; mtu: number }
  | { op: "vni.remove"; vni: number }
  | { op: "port.add"; port: number; fd: number; name: string; vni: number; mac: string; ip: string }
  | { op: "port.remove"; port: number }
  | { op: "remote.add"; vni: number; mac: string; ip: string; addr: string; port: number }
  | { op: "remote.remove"; vni: number; mac: string; ip: string }
  | { op: "flood.add"; vni: number; addr: string; port: number }
  | { op: "flood.remove"; vni: number; addr: string; port: number };

export type ToDpWorker =
  | { type: "start"; udpFd: number; family: number; vxlanPort: number; wakeFd: number }
  | { type: "ops"; id: number; ops: DpOp[] }
  | { type: "fdb"; id: number }
  | { type: "stats"; id: number }
  | { type: "stop" };

export type FromDpWorker =
  | { type: "ready" }
  | { type: "reply"; id: number; data: unknown; error?: string }
  | { type: "fatal"; message: string }
  | { type: "stopped" };
