// The page's script (build/weft-ui.js, bundled by build/build.mjs): a capture the user drops or
// picks goes through analyseCapture() and is rendered as four parts: the per-VNI summary with drop
// reasons, the decapsulated frames, the FDB the switch learnt, a download of the decapsulated
// capture. The core and the readers come from build/weft-core.mjs, which the bundle imports as is.

import { createCore } from "../core/bundle.ts";
import { sum } from "../pcap/decap.ts";
import { analyseCapture, type Analysis, DEFAULT_OPTIONS } from "./analyse.ts";

/** Rows of the frame table; past it the page says how many it left out (the download has all).
 *  A table lays out in time proportional to its rows: 5000 took seconds in Chromium here. */
const MAX_ROWS = 1000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const fileInput = $<HTMLInputElement>("file");
const drop = $("drop");
const portInput = $<HTMLInputElement>("port");
const mtuInput = $<HTMLInputElement>("mtu");
const status = $("status");
let current: { name: string; bytes: Uint8Array } | undefined;
let downloadUrl: string | undefined;

fileInput.addEventListener("change", () => {
  const f = fileInput.files?.[0];
  if (f) void open(f);
});
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer?.files[0];
  if (f) void open(f);
});
for (const input of [portInput, mtuInput]) input.addEventListener("change", () => void run());
portInput.value = DEFAULT_OPTIONS.ports.join(", ");
mtuInput.value = String(DEFAULT_OPTIONS.mtu);
document.body.dataset.state = "idle";

async function open(file: File): Promise<void> {
  current = { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
  await run();
}

async function run(): Promise<void> {
  if (!current) return;
  // As `weft pcap decap --port N…`: several ports, 4790 meaning VXLAN-GPE.
  const ports = portInput.value.split(/[\s,]+/).filter((t) => t !== "").map((t) => integer(t, 1, 65535));
  const mtu = integer(mtuInput.value, 68, 65000);
  document.body.dataset.state = "busy";
  if (ports.length === 0 || ports.includes(undefined)) {
    return fail(`UDP ports "${portInput.value}": expected integers in 1..65535, separated by commas`);
  }
  if (mtu === undefined) return fail(`MTU "${mtuInput.value}": expected an integer in 68..65000`);
  status.textContent = `reading ${current.name}…`;
  let a: Analysis;
  try {
    a = await analyseCapture(current.bytes, {
      ports: [...new Set(ports as number[])],
      mtu,
      maxRows: MAX_ROWS,
    }, createCore);
  } catch (e) {
    return fail(`${current.name}: ${(e as Error).message}`);
  }
  render(current.name, a);
  document.body.dataset.state = "done";
}

function fail(message: string): void {
  status.textContent = `error: ${message}`;
  status.classList.add("error");
  for (const id of ["summary", "frames", "fdb"]) $(id).replaceChildren();
  $("lines").textContent = "";
  $("download").hidden = true;
  document.body.dataset.state = "error";
}

function render(name: string, a: Analysis): void {
  status.classList.remove("error");
  status.textContent = `${name} (${a.format}): ${a.packets} records, ${a.summary.written} inner frames`;
  $("lines").textContent = a.lines.join("\n");

  const summary: string[][] = [];
  for (const [vni, s] of a.summary.vnis) {
    summary.push([String(vni), String(s.decapsulated), String(sum(s.dropped)), reasons(s.dropped)]);
  }
  if (a.summary.other.size > 0) {
    summary.push([
      "none (not VXLAN or malformed)",
      "0",
      String(sum(a.summary.other)),
      reasons(a.summary.other),
    ]);
  }
  fill("summary", ["VNI", "DECAPSULATED", "DROPPED", "DROP REASONS"], summary);

  const shown = a.frames;
  fill(
    "frames",
    ["NO.", "TIME", "VNI", "SOURCE MAC", "DESTINATION MAC", "SOURCE", "DESTINATION", "PROTOCOL", "LENGTH"],
    shown.map((f) => [
      String(f.number),
      f.time.toFixed(6),
      String(f.vni),
      f.srcMac,
      f.dstMac,
      f.src,
      f.dst,
      f.protocol,
      // Wireshark's frame.len: the length on the wire, also for a record the snap length cut.
      String(f.origLength),
    ]),
  );
  $("frames-note").textContent = a.summary.written > shown.length
    ? `first ${shown.length} of ${a.summary.written} frames shown; the download holds all of them`
    : "";

  fill(
    "fdb",
    ["VNI", "MAC", "TO", "STATE", "AGE"],
    a.fdb.map((e) => [String(e.vni), e.mac, `vtep ${e.vtep}`, "learned", `${e.age}s`]),
  );

  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  // PcapWriter.bytes() is a fresh Uint8Array over its own ArrayBuffer, never a shared one.
  const file = a.pcap as Uint8Array<ArrayBuffer>;
  downloadUrl = URL.createObjectURL(new Blob([file], { type: "application/vnd.tcpdump.pcap" }));
  const link = $<HTMLAnchorElement>("download");
  link.href = downloadUrl;
  link.download = `${name.replace(/\.(pcapng|pcap|cap)$/i, "")}-decap.pcap`;
  link.textContent = `Download the decapsulated capture (${a.summary.written} frames, classic pcap)`;
  link.hidden = false;
}

/** Replaces table `id`'s contents with a header row and body rows of text cells. */
function fill(id: string, head: string[], rows: string[][]): void {
  const thead = document.createElement("thead");
  thead.append(row("th", head));
  const tbody = document.createElement("tbody");
  for (const r of rows) tbody.append(row("td", r));
  $(id).replaceChildren(thead, tbody);
}

function row(cell: "td" | "th", texts: string[]): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const t of texts) {
    const c = document.createElement(cell);
    c.textContent = t;
    tr.append(c);
  }
  return tr;
}

function integer(text: string, min: number, max: number): number | undefined {
  const v = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  return Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined;
}

function reasons(m: Map<string, number>): string {
  return [...m].map(([k, v]) => `${k} ${v}`).join(", ");
}
