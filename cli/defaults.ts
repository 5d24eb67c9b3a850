// The host's protocol defaults, in one place: every command, the daemon, the swarm and the core
// binding import these instead of spelling the numbers. Pure constants (no Deno.*), so the
// core binding that esbuild bundles for Node and browsers can import them too.

/** IANA's VXLAN UDP port (RFC 7348 §5); Docker's --data-path-port default. Linux's old one: 8472. */
export const VXLAN_PORT = 4789;

/** The first VNI a network may have: 0, as RFC 7348 §5 gives 24 bits and reserves none, and
 *  the kernel takes `id 0` (the core marks a VNI record in use with a flag, not by a non-zero VNI). */
export const VNI_MIN = 0;
/** The last VNI: 2^24 − 1 (RFC 7348 §5, a 24-bit field). */
export const VNI_MAX = 0xffffff;

/** Docker's overlay driver allocates network VNIs from here up (libnetwork's vxlanIDStart). */
export const FIRST_VNI = 4096;

/** MTU of the underlay links weft assumes when it cannot read one: Ethernet's 1500. */
export const UNDERLAY_MTU = 1500;
/** Bytes the tunnel adds to an inner L3 packet: inner Ethernet 14 + VXLAN 8 + UDP 8 + IPv4 20
 *  (RFC 7348 forbids fragmenting the outer packet, so the overlay MTU is smaller by this). */
export const VXLAN_OVERHEAD_IPV4 = 50;
/** The same over an IPv6 underlay: its header is 20 bytes longer. */
export const VXLAN_OVERHEAD_IPV6 = 70;
/** Overlay MTU (largest inner L3 packet, bytes) over IPv4: Docker's overlay default, 1500 − 50. */
export const DEFAULT_MTU = UNDERLAY_MTU - VXLAN_OVERHEAD_IPV4;
/** Overlay MTU over an IPv6 underlay: 1500 − 70. */
export const DEFAULT_MTU_IPV6 = UNDERLAY_MTU - VXLAN_OVERHEAD_IPV6;
/** Smallest MTU an IPv4 host must accept (RFC 791). */
export const MTU_MIN = 68;

/** UDP sockets a VTEP sends from: the inner flow's hash picks one, so the outer source port
 *  varies per flow (RFC 7348 §5) and receivers' RSS spreads the flows. */
export const SOURCE_PORTS = 16;

/** Seconds a learned FDB entry lives without traffic: Linux vxlan's FDB_AGE_DEFAULT. */
export const DEFAULT_AGEING = 300;
/** Learned MACs per VNI when no limit is set: none (Linux vxlan's default, no "max" set). */
export const DEFAULT_LEARN_MAX = 0xffffffff;

/** The swarm's control-plane port: Docker swarm's cluster management port (TCP 2377). */
export const CONTROL_PORT = 2377;
