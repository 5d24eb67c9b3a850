// `weft inspect` and `weft network inspect` output in the shapes `docker inspect` and `docker
// network inspect` print (Docker Engine API: ContainerInspectResponse, NetworkResource), from the
// daemon's records. Pure functions: the daemon hands in what it knows.

import type { ContainerRecord } from "./daemon.ts";

/** One container as `docker inspect NAME` shows it (the fields weft has). */
export function containerInspect(c: ContainerRecord, up: boolean, eth0Up: boolean) {
  const cmd = c.cmd;
  return {
    Id: c.endpointId,
    Created: c.created,
    Path: cmd[0] ?? "",
    Args: cmd.slice(1),
    State: {
      Status: up ? "running" : "exited",
      Running: up,
      Paused: false,
      Restarting: false,
      Dead: false,
      /** 0 when not running, as Docker. */
      Pid: up ? c.pid ?? 0 : 0,
    },
    Name: `/${c.name}`,
    Config: { Hostname: c.name, Cmd: cmd.length ? cmd : null },
    NetworkSettings: {
      SandboxKey: `/run/netns/${c.name}`,
      Networks: {
        [c.networkName]: {
          NetworkID: c.network,
          EndpointID: c.endpointId,
          Gateway: "",
          IPAddress: c.ip,
          IPPrefixLen: c.prefix,
          MacAddress: c.mac,
          /** weft: the interface's state (its TAP lives in the daemon). */
          Interface: { Name: "eth0", Up: eth0Up },
        },
      },
    },
  };
}
