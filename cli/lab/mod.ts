// The namespace lab shared by tests, benchmarks and `weft demo`: run.ts (commands, processes,
// waitFor), lab.ts (the Lab: namespaces, `weft vtep`, weft hosts with daemons), topology.ts (two
// hosts, hosts on a bridge, the kernel's VXLAN), probe.ts (TCP transfers, links, sockets), etcd.ts
// (etcd members for a swarm's store).

export * from "./run.ts";
export * from "./lab.ts";
export * from "./topology.ts";
export * from "./probe.ts";
export * from "./etcd.ts";
