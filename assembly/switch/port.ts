// Local ports: the TAP endpoints (the seed's veths into br0). A port belongs to one VNI.

import { allocate } from "../layout";
import * as abi from "../abi";

/** Descriptor port numbers at and above this are not local ports but the underlay. */
@inline export const PORT_UNDERLAY_ETH: u32 = abi.PORT_UNDERLAY_ETH;
/** Ingress from the UDP socket: the frame starts with the VXLAN header. */
@inline export const PORT_UNDERLAY: u32 = abi.PORT_UNDERLAY;

export let maxPorts: u32 = 0;
let portsPtr: usize = 0; // u32 per port: VNI slot + 1, 0 = unattached

export function layoutPorts(count: u32): bool {
  maxPorts = count;
  portsPtr = allocate(<usize>count * 4);
  return portsPtr != 0;
}

/** VNI slot of a local port, -1 if it is not attached (or out of range). */
@inline export function slotOfPort(port: u32): i32 {
  if (port >= maxPorts) return -1;
  return <i32>load<u32>(portsPtr + (<usize>port << 2)) - 1;
}

export function setPortSlot(port: u32, slot: i32): void {
  store<u32>(portsPtr + (<usize>port << 2), <u32>(slot + 1));
}
