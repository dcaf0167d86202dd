/**
 * The values of string literals and template chunks, decoded from their source text. swc's
 * decoded `value` and `cooked` cannot hold a lone surrogate (they are Rust strings), so it writes
 * one as the six characters `\uD800`, and a backslash before a `u` twice to tell the two apart;
 * taken as they are, `"\uD800".length` would be 6 and `"C:\\u0041"` would grow a backslash.
 * Decoding the raw text gives exactly the string JavaScript gives.
 */

const SIMPLE: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v" };
const LINE_TERMINATORS = new Set(["\n", "\r", "\u2028", "\u2029"]);

/** Decodes a string literal's or a template chunk's escapes (the text between its quotes). */
function decodeEscapes(raw: string, template: boolean): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === "\r" && template) {
      // A template's line ends are normalised: CR LF and CR are read as LF.
      if (raw[i + 1] === "\n") i++;
      out += "\n";
      continue;
    }
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = raw[++i];
    if (e === undefined) break;
    if (e in SIMPLE) out += SIMPLE[e];
    else if (e === "0" && !/[0-9]/.test(raw[i + 1] ?? "")) out += "\0";
    else if (e === "x") {
      out += String.fromCharCode(Number.parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e === "u") {
      if (raw[i + 1] === "{") {
        const end = raw.indexOf("}", i);
        out += String.fromCodePoint(Number.parseInt(raw.slice(i + 2, end), 16));
        i = end;
      } else {
        out += String.fromCharCode(Number.parseInt(raw.slice(i + 1, i + 5), 16));
        i += 4;
      }
    } else if (LINE_TERMINATORS.has(e)) {
      // A line continuation: the backslash and the line end are nothing.
      if (e === "\r" && raw[i + 1] === "\n") i++;
    } else out += e;
  }
  return out;
}

/** A string literal's value (`"..."` or `'...'`). */
export function stringValue(lit: { value: string; raw?: string }): string {
  return lit.raw === undefined ? lit.value : decodeEscapes(lit.raw.slice(1, -1), false);
}

/** A template chunk's cooked value (undefined for an invalid escape, which only a tagged template may hold). */
export function cookedValue(q: { raw: string; cooked?: string | null }): string | undefined {
  return q.cooked === undefined || q.cooked === null ? undefined : decodeEscapes(q.raw, true);
}
