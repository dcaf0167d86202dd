/**
 * Readable text for values as core/codec.ts stores them (the JSON API returns the encoded form
 * itself; the pages show this): JSON, with the tagged values written the way JavaScript shows
 * them (`undefined`, `123n`, `Date(...)`, `Map(2) {...}`). The result is plain text: the pages
 * escape it like everything else.
 */
import type { Encoded } from "../core/codec.js";

const WIDTH = 72;
/** Past this much JSON, the value is shown as raw JSON (no pretty-printing work). */
const PRETTY_LIMIT = 200_000;

type Obj = { [key: string]: Encoded };

function isTagged(v: Encoded): v is Obj & { $w: string } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as Obj).$w === "string";
}

function key(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k);
}

interface Shape {
  open: string;
  close: string;
  items: Array<{ label?: string; sep?: string; value: Encoded }>;
}

/** Containers as their parts; scalars as their text. */
function shape(v: Encoded): Shape | string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return { open: "[", close: "]", items: v.map((value) => ({ value })) };
  if (!isTagged(v)) return { open: "{", close: "}", items: Object.entries(v).map(([k, value]) => ({ label: key(k), sep: ": ", value })) };
  const d = v.v;
  switch (v.$w) {
    case "u":
      return "undefined";
    case "num":
      return String(d);
    case "big":
      return `${String(d)}n`;
    case "date":
      return d === null ? "Invalid Date" : `Date(${String(d)})`;
    case "bytes":
      return `Uint8Array(${Math.floor((String(d).length * 3) / 4)} bytes, base64 ${String(d).slice(0, 40)}${String(d).length > 40 ? "…" : ""})`;
    case "map": {
      const entries = (d as Encoded[][]) ?? [];
      return {
        open: `Map(${entries.length}) {`,
        close: "}",
        items: entries.map(([k, value]) => ({ label: text(k ?? null), sep: " => ", value: value ?? null })),
      };
    }
    case "set": {
      const items = (d as Encoded[]) ?? [];
      return { open: `Set(${items.length}) {`, close: "}", items: items.map((value) => ({ value })) };
    }
    case "obj":
      return shape(d && typeof d === "object" && !Array.isArray(d) ? { ...(d as Obj) } : (d ?? null));
    case "err": {
      const fields = (v.fields as Obj | undefined) ?? {};
      const items = Object.entries(fields).map(([k, value]) => ({ label: key(k), sep: ": ", value }));
      return { open: `${String(v.name)}: ${String(v.message)}${items.length ? " {" : ""}`, close: items.length ? "}" : "", items };
    }
    default:
      return JSON.stringify(v);
  }
}

function compact(v: Encoded): string {
  const s = shape(v);
  if (typeof s === "string") return s;
  const inner = s.items.map((i) => `${i.label ?? ""}${i.sep ?? ""}${compact(i.value)}`).join(", ");
  if (!s.items.length) return `${s.open}${s.close}`;
  return s.open.endsWith("{") ? `${s.open} ${inner} ${s.close}` : `${s.open}${inner}${s.close}`;
}

function pretty(v: Encoded, indent: string): string {
  const flat = compact(v);
  const s = shape(v);
  if (typeof s === "string" || flat.length + indent.length <= WIDTH || !s.items.length) return flat;
  const next = indent + "  ";
  const lines = s.items.map((i) => `${next}${i.label ?? ""}${i.sep ?? ""}${pretty(i.value, next)}`);
  return `${s.open}\n${lines.join(",\n")}\n${indent}${s.close}`;
}

/** A value as readable text, cut at `max` characters. */
export function text(v: Encoded | null | undefined, max = 20_000): string {
  if (v === undefined) return "undefined";
  const json = JSON.stringify(v);
  const out = json.length > PRETTY_LIMIT ? json : pretty(v, "");
  return out.length > max ? `${out.slice(0, max)}… (${(out.length - max).toLocaleString("en-US")} more characters)` : out;
}

/** The argument list of a call or an instance (stored as an array), without the brackets. */
export function argsText(v: Encoded | null | undefined, max?: number): string {
  if (!Array.isArray(v)) return text(v, max);
  const t = text(v, max);
  return t.startsWith("[") && t.endsWith("]") ? t.slice(1, -1).replace(/^\n|\n$/g, "") : t;
}

export interface ErrorView {
  name: string;
  message: string;
  stack: string | null;
  fields: string | null;
}

/** An error as stored (`{"$w":"err",name,message,stack,fields}`), or anything else shown as text. */
export function errorView(v: Encoded | null | undefined): ErrorView | null {
  if (v === null || v === undefined) return null;
  if (isTagged(v) && v.$w === "err") {
    const fields = v.fields && typeof v.fields === "object" && Object.keys(v.fields).length ? text(v.fields as Encoded) : null;
    return { name: String(v.name ?? "Error"), message: String(v.message ?? ""), stack: typeof v.stack === "string" ? v.stack : null, fields };
  }
  // Attempt rows hold the error's data untagged: { name, message, stack, fields }.
  if (typeof v === "object" && !Array.isArray(v) && typeof (v as Obj).name === "string" && typeof (v as Obj).message === "string") {
    return errorView({ ...(v as Obj), $w: "err" });
  }
  return { name: "Error", message: text(v), stack: null, fields: null };
}
