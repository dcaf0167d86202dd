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
 * Cuts a text into chunks whose ends depend only on the text around them (a gear hash over the
 * last 32 characters), between MIN and MAX long; a cut never splits a surrogate pair.
 */
export function stateSplit(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let h = 0;
  const n = text.length;
  // The hash depends only on the last 32 characters: a chunk's first MIN - 32 need no hashing.
  for (let i = MIN - 32; i < n; i++) {
    h = ((h << 1) + GEAR[text.charCodeAt(i) & 0xff]!) | 0;
    const len = i + 1 - start;
    if (len < MIN) continue;
    if ((h & MASK) === 0 || len >= MAX) {
      let end = i + 1;
      const last = text.charCodeAt(end - 1);
      if (last >= 0xd800 && last <= 0xdbff && end < n) end++;
      out.push(text.slice(start, end));
      start = end;
      i = end + MIN - 33;
      h = 0;
    }
  }
  if (start < n) out.push(text.slice(start));
  return out;
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
   * The state to write for `text`: inline, or a manifest and the chunks not yet on file, and the
   * chunks on file it no longer names. A step changes a few places, and content-defined cuts
   * fall again where they fell around them: the new chunks are matched against the old in order,
   * looking a few ahead after a change (string comparisons, most of them settled by the length).
   */
  write(text: string | null): { state: string | null; put: Array<[number, string]>; drop: number[]; memory: { texts: string[]; ids: number[] } } {
    if (text === null || text.length < STATE_CHUNKED_FROM) return { state: text, put: [], drop: this.ids, memory: { texts: [], ids: [] } };
    const texts = stateSplit(text);
    const ids = new Array<number>(texts.length);
    const old = this.texts;
    const put: Array<[number, string]> = [];
    const kept = new Set<number>();
    let j = 0;
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i]!;
      let at = -1;
      for (let k = j; k < old.length && k <= j + LOOK_AHEAD; k++) {
        if (old[k] === t) {
          at = k;
          break;
        }
      }
      if (at >= 0) {
        ids[i] = this.ids[at]!;
        kept.add(ids[i]!);
        j = at + 1;
      } else {
        ids[i] = this.next++;
        put.push([ids[i]!, t]);
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
