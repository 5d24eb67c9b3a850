// The swarm's state as a manager sees it: tables of records keyed "kind/id", each with the
// revision that last wrote it, behind one interface with two backends:
//   EmbeddedState  the JSON-lines log under the state dir (store.ts): one manager, the default
//   EtcdState      etcd (--cluster-store etcd://…): any number of managers share it
// Reads come from a local mirror (synchronous); writes are transactions whose conditions are
// checked by the store itself (etcd's compare-and-swap), so two managers can never hand out the
// same name, subnet, VNI or address. A write resolves once the mirror has caught up with it, and
// every change reaches `onChange` with its revision, whichever manager made it.
//
// Ephemeral kinds (EPHEMERAL) are bound to this manager's life: with etcd to its lease (they
// vanish TTL seconds after it dies), in the embedded store they are dropped at the next start.
//
// This module gathers them (Deno std's mod.ts): swarm_state.ts (the interface), embedded_state.ts,
// etcd_state.ts.

export * from "./swarm_state.ts";
export { EmbeddedState } from "./embedded_state.ts";
export { EtcdState } from "./etcd_state.ts";
