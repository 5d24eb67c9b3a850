export * from "../../cli/control/daemon/lab.ts";
