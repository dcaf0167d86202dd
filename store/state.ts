/**
 * Large instance states, written in parts (waymark.state_chunks, migrations/0011): a snapshot
 * over STATE_CHUNKED_FROM characters is cut into content-defined chunks, so that a step that
 * changes a few places of a large state (a counter, the position, the end of a growing array)
 * changes a few chunks wherever they are, and a write sends only those. The instance row's
 * `state` then holds the manifest: "@" and the chunk ids in order (a snapshot, JSON, never
 * starts with "@"). The batched write (progress.ts) inserts a write's new chunks and deletes the
 * instance's chunks its manifest no longer names, in the statement that writes the manifest and
 * only if the lease guard holds, so the row and its chunks always agree.
 */
import type { Queryable } from "./db.js";

/** States at least this long (UTF-16 units of the snapshot text) are written in parts. */
export const STATE_CHUNKED_FROM = 8192;
const MIN = 256;
const MAX = 4096;
/**
 * A boundary where the rolling hash's top 10 bits are zero: about 1 KiB past MIN on average. The
 * top bits depend on the last 32 characters (each shifts out after 32 steps); the low bits only
 * on the last few, which would cut repetitive text (a list of numbers) every few hundred.
 */
const MASK = 0xffc00000 | 0;
/** How many old chunks a new one is looked for among, past the last match. */
const LOOK_AHEAD = 8;

/** The gear table: 256 fixed pseudo-random words (xorshift32 from a constant seed). */
const GEAR = new Int32Array(256);
{
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    GEAR[i] = x;
  }
}

/**
 * The length of the chunk that starts a text, given its first MAX + 1 characters (or all that
 * is left): up to a boundary of the gear hash over the last 32 characters, between MIN and MAX
 * long, or the whole of what is left; a cut never splits a surrogate pair. It depends only on
 * those characters, so a chunk that starts where an old one started, with the same characters,
 * ends where it ended (unless the old one ended with its text).
 */
function cutLength(w: string): number {
  const n = w.length;
  let h = 0;
  // The hash depends only on the last 32 characters: a chunk's first MIN - 32 need no hashing.
  for (let i = MIN - 32; i < n; i++) {
    h = ((h << 1) + GEAR[w.charCodeAt(i) & 0xff]!) | 0;
    const len = i + 1;
    if (len < MIN) continue;
    if ((h & MASK) === 0 || len >= MAX) {
      const last = w.charCodeAt(len - 1);
      return last >= 0xd800 && last <= 0xdbff && len < n ? len + 1 : len;
    }
  }
  return n;
}

/**
 * A text given as pieces to be joined (a snapshot's, core/codec.ts), read front to back without
 * joining them: `slice` asks for ranges that never start before an earlier one's start.
 */
class Pieces {
  readonly length: number;
  /** The piece the last range started in, and where that piece starts in the text. */
  private p = 0;
  private at = 0;

  constructor(private readonly pieces: readonly string[]) {
    let n = 0;
    for (const x of pieces) n += x.length;
    this.length = n;
  }

  slice(from: number, to: number): string {
    const pieces = this.pieces;
    if (to > this.length) to = this.length;
    while (this.p < pieces.length - 1 && this.at + pieces[this.p]!.length <= from) this.at += pieces[this.p++]!.length;
    const first = pieces[this.p]!;
    if (to - this.at <= first.length) return first.slice(from - this.at, to - this.at);
    let out = first.slice(from - this.at);
    for (let q = this.p + 1, qa = this.at + first.length; qa < to && q < pieces.length; qa += pieces[q++]!.length) out += pieces[q]!.slice(0, to - qa);
    return out;
  }
}

/** Cuts a text into content-defined chunks (`cutLength`), each between MIN and MAX long but the last. */
export function stateSplit(text: string): string[] {
  const out: string[] = [];
  for (let start = 0; start < text.length; ) {
    const end = start + cutLength(text.slice(start, start + MAX + 1));
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

/**
 * A copy of a part of a large text that does not keep the whole text alive. V8 makes a slice a
 * view of its parent: a chunk kept for many steps would pin the snapshot it was cut from, and a
 * long-lived instance would hold one old snapshot per chunk. (A slice of a concatenation is a
 * view of a fresh flat copy.)
 */
function detached(part: string): string {
  return ` ${part}`.slice(1);
}

export function isManifest(state: string | null | undefined): state is string {
  return typeof state === "string" && state.startsWith("@");
}

function manifestOf(ids: number[]): string {
  return `@${ids.join(",")}`;
}

function manifestIds(manifest: string): number[] {
  return manifest.length > 1 ? manifest.slice(1).split(",").map(Number) : [];
}

/**
 * The whole texts of states stored in parts (by instance id), with each instance's chunks by
 * id, in one query. A chunk a manifest names but the table lacks is an error: the row and its
 * chunks are written together, so it means the data was changed by hand.
 */
export async function stateAssemble(db: Queryable, manifests: Map<string, string>): Promise<Map<string, { text: string; chunks: Map<number, string> }>> {
  const out = new Map<string, { text: string; chunks: Map<number, string> }>();
  if (!manifests.size) return out;
  const { rows } = await db.query<{ instance_id: string; id: number; data: string }>({
    name: "waymark_state_chunks",
    text: "SELECT instance_id::text, id, data FROM waymark.state_chunks WHERE instance_id = ANY($1::uuid[])",
    values: [[...manifests.keys()]],
  });
  const chunks = new Map<string, Map<number, string>>();
  for (const r of rows) {
    let m = chunks.get(r.instance_id);
    if (!m) chunks.set(r.instance_id, (m = new Map()));
    m.set(r.id, r.data);
  }
  for (const [id, manifest] of manifests) {
    const have = chunks.get(id) ?? new Map<number, string>();
    const parts = manifestIds(manifest).map((n) => {
      const part = have.get(n);
      if (part === undefined) throw new Error(`instance ${id}: its state names chunk ${n}, which waymark.state_chunks does not hold`);
      return part;
    });
    out.set(id, { text: parts.join(""), chunks: have });
  }
  return out;
}

/**
 * What a live instance remembers of its chunks on file, to send only new ones: their texts and
 * ids in manifest order. `write` works out a state's manifest and the chunks to insert; the
 * memory changes only when that write is known to have landed (`landed`), and is dropped when a
 * write failed (`forget`: the next write sends every chunk again, under new ids).
 */
export class ChunkMemory {
  private texts: string[] = [];
  private ids: number[] = [];
  private next = 1;
  /** What is on file is not known (a write failed): the next write deletes every chunk it does not name. */
  lost = false;

  /** Seeds it from the chunks a claim read (their ids and texts). */
  static from(chunks: Map<number, string>): ChunkMemory {
    const m = new ChunkMemory();
    for (const [id, text] of chunks) {
      m.texts.push(text);
      m.ids.push(id);
      if (id >= m.next) m.next = id + 1;
    }
    return m;
  }

  /**
   * The state to write for `text` (whole, or in pieces to be joined: a snapshot's): inline, or a manifest and the chunks not yet on file, and the
   * chunks on file it no longer names. A step changes a few places, and content-defined cuts
   * fall again where they fell around them. So the text is cut from its start, and wherever a
   * chunk starts with one of the next few old chunks (LOOK_AHEAD past the last one matched), that
   * chunk is it (its end depends only on its characters): only changed places are hashed, the
   * rest is compared (natively), and the result is the cut `stateSplit` makes.
   */
  write(text: string | readonly string[] | null): {
    state: string | null;
    put: Array<[number, string]>;
    drop: number[];
    memory: { texts: string[]; ids: number[] };
  } {
    const whole = typeof text === "string" ? [text] : text;
    const view = whole && new Pieces(whole);
    if (!view || view.length < STATE_CHUNKED_FROM) {
      return { state: whole === null ? null : whole.join(""), put: [], drop: this.ids, memory: { texts: [], ids: [] } };
    }
    const n = view.length;
    const old = this.texts;
    const texts: string[] = [];
    const ids: number[] = [];
    const put: Array<[number, string]> = [];
    const kept = new Set<number>();
    let j = 0;
    for (let pos = 0; pos < n; ) {
      let at = -1;
      for (let k = j; k < old.length && k <= j + LOOK_AHEAD; k++) {
        const o = old[k]!;
        const end = pos + o.length;
        // The old text's last chunk ended with its text, not at a cut: it is one here only as the last.
        // (A slice compared is much faster in V8 than startsWith, which goes character by character.)
        if (end <= n && (k < old.length - 1 || end === n) && view.slice(pos, end) === o) {
          at = k;
          break;
        }
      }
      if (at >= 0) {
        texts.push(old[at]!);
        ids.push(this.ids[at]!);
        kept.add(this.ids[at]!);
        j = at + 1;
        pos += old[at]!.length;
      } else {
        const w = view.slice(pos, pos + MAX + 1);
        const t = detached(w.slice(0, cutLength(w)));
        const id = this.next++;
        texts.push(t);
        ids.push(id);
        put.push([id, t]);
        pos += t.length;
      }
    }
    return { state: manifestOf(ids), put, drop: this.ids.filter((id) => !kept.has(id)), memory: { texts, ids } };
  }

  /** The write of `memory` (from `write`) landed: those chunks, and only those, are on file. */
  landed(memory: { texts: string[]; ids: number[] }): void {
    this.texts = memory.texts;
    this.ids = memory.ids;
    this.lost = false;
  }

  /** A write failed: what is on file is unknown; the next write sends every chunk anew and deletes the rest. */
  forget(): void {
    this.texts = [];
    this.ids = [];
    this.lost = true;
  }

  /** Chunks may be on file. */
  get any(): boolean {
    return this.lost || this.ids.length > 0;
  }
}
