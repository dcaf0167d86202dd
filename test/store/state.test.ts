import test from "ava";
import * as fc from "fast-check";
import { instanceClaim } from "../../store/leases.js";
import { instanceGetFull, instancesCollect } from "../../store/instances.js";
import { instancesPersist, type InstanceWrite } from "../../store/progress.js";
import { ChunkMemory, isManifest, STATE_CHUNKED_FROM, stateSplit } from "../../store/state.js";
import { storeSetup } from "../helpers/store.js";

/** A snapshot-like text of `n` entries: a counter at the start, a growing list, a tail. */
function big(n: number, seq = n): string {
  return JSON.stringify({ v: 2, seq, env: { list: Array.from({ length: n }, (_, i) => `entry ${i} ${"·".repeat(i % 7)} 😀`), i: n }, tail: "end" });
}

test("a text is cut where its content says: the chunks join back to it, never split a surrogate pair, and an edit changes only the chunks around it", (t) => {
  const a = big(3000);
  const parts = stateSplit(a);
  t.is(parts.join(""), a);
  t.true(parts.length > 20);
  for (const p of parts) {
    const last = p.charCodeAt(p.length - 1);
    t.false(last >= 0xd800 && last <= 0xdbff, "a chunk ends with half a surrogate pair");
  }
  // The counter at the start, one entry in the middle, and the list's end change.
  const b = a.replace('"seq":3000', '"seq":3001').replace("entry 1500 ", "entry 1500 changed ").replace('"i":3000', '"i":3001,"more":1');
  const again = new Set(parts);
  const changed = stateSplit(b).filter((p) => !again.has(p));
  t.true(changed.length <= 8, `${changed.length} of ${parts.length} chunks changed`);
});

test("a write cuts the text exactly as a fresh cut would, whatever changed since the last (edits anywhere, growth, shrinking, a lost write), and reuses the ids of unchanged chunks", (t) => {
  // Edits of a large text: a splice of some characters (surrogate pairs included) somewhere.
  const edit = fc.record({
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    remove: fc.nat(3000),
    insert: fc.string({ unit: "grapheme", maxLength: 600 }),
    split: fc.nat(9000),
  });
  // Growth at the end (an accumulating workflow) weighs most: the old last chunk ended with its text, not at a cut.
  const append = fc.record({
    at: fc.constant(1),
    remove: fc.constant(0),
    insert: fc.string({ unit: "grapheme", minLength: 1, maxLength: 300 }),
    split: fc.nat(9000),
  });
  const inPieces = (text: string, size: number): string[] => {
    const out: string[] = [""];
    for (let i = 0; i < text.length; i += size + 1) out.push(text.slice(i, i + size + 1), "");
    return out;
  };
  fc.assert(
    fc.property(fc.array(fc.oneof(edit, append, append, fc.constant("lost" as const)), { minLength: 1, maxLength: 12 }), (edits) => {
      const memory = new ChunkMemory();
      let text = big(1500);
      const first = memory.write(text);
      memory.landed(first.memory);
      let previous = new Map(first.memory.texts.map((x, i) => [x, first.memory.ids[i]!]));
      for (const e of edits) {
        if (e === "lost") {
          memory.forget();
          previous = new Map();
          continue;
        }
        const at = Math.floor(e.at * text.length);
        text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
        // Given in pieces, as a snapshot is (empty ones too), or whole.
        const w = memory.write(e.split ? inPieces(text, e.split) : text);
        if (text.length < STATE_CHUNKED_FROM) {
          t.is(w.state, text);
          memory.landed(w.memory);
          previous = new Map();
          continue;
        }
        t.deepEqual(w.memory.texts, stateSplit(text));
        t.is(w.memory.texts.join(""), text);
        // A chunk the memory had is named by its old id, and only new ones are sent.
        const sent = new Set(w.put.map(([id]) => id));
        for (let i = 0; i < w.memory.texts.length; i++) {
          const id = w.memory.ids[i]!;
          if (!sent.has(id)) t.true(previous.has(w.memory.texts[i]!), "a chunk not sent must be on file");
        }
        previous = new Map(w.memory.texts.map((x, i) => [x, w.memory.ids[i]!]));
        memory.landed(w.memory);
      }
    }),
    { numRuns: 60 },
  );
});

test("a large state is written in parts: each write sends only new chunks and drops the replaced ones, under the lease guard; a lost write's next one sweeps; the end leaves none", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id] = await queue(1);
  const [claim] = await instanceClaim(pool, { owner: "a", limit: 1, leaseMs: 60_000 });
  const memory = new ChunkMemory();
  const chunkRows = async () => (await pool.query("SELECT id, data FROM waymark.state_chunks WHERE instance_id = $1 ORDER BY id", [id])).rows;
  const write = async (text: string | null, owner = "a", epoch = claim!.epoch, status: InstanceWrite["status"] = "running") => {
    const parts = memory.write(text);
    const w: InstanceWrite = { id: id!, epoch, status, state: parts.state };
    if (memory.lost) w.chunked = true;
    if (parts.put.length) w.chunks = parts.put;
    if (parts.drop.length) w.chunkDrop = parts.drop;
    const written = await instancesPersist(pool, { owner, instances: [w], attempts: [] });
    if (written.has(id!)) memory.landed(parts.memory);
    return { written: written.has(id!), put: parts.put.length };
  };

  const first = big(1000);
  t.true(first.length >= STATE_CHUNKED_FROM);
  t.like(await write(first), { written: true });
  t.is((await instanceGetFull(pool, { id: id! }))!.state, first, "read whole, as written");
  const row = await pool.query("SELECT state FROM waymark.instances WHERE id = $1", [id]);
  t.true(isManifest(row.rows[0].state));
  const onFile = (await chunkRows()).length;

  // The next steps: a few chunks each, and the table holds exactly the manifest's chunks.
  for (let n = 1001; n <= 1010; n++) {
    const text = big(n);
    const { put } = await write(text);
    t.true(put > 0 && put <= 4, `${put} chunks sent for one step`);
    t.is((await instanceGetFull(pool, { id: id! }))!.state, text);
  }
  const manifest = (await pool.query("SELECT state FROM waymark.instances WHERE id = $1", [id])).rows[0].state as string;
  t.deepEqual(
    (await chunkRows()).map((r) => r.id),
    [...new Set(manifest.slice(1).split(",").map(Number))].sort((x, y) => x - y),
  );
  t.true((await chunkRows()).length <= onFile + 4);

  // A write under a stale epoch changes nothing: neither the row nor the chunks.
  const before = await chunkRows();
  const stale = memory.write(big(2000));
  const refused = await instancesPersist(pool, {
    owner: "a",
    instances: [{ id: id!, epoch: claim!.epoch - 1, status: "running", state: stale.state, chunks: stale.put, chunkDrop: stale.drop }],
    attempts: [],
  });
  t.is(refused.size, 0);
  t.deepEqual(await chunkRows(), before);
  t.is((await instanceGetFull(pool, { id: id! }))!.state, big(1010));

  // A write whose fate is unknown (it may have landed): the next one sends every chunk under new
  // ids and sweeps whatever it does not name.
  memory.forget();
  const after = big(1020);
  t.like(await write(after), { written: true });
  t.is((await instanceGetFull(pool, { id: id! }))!.state, after);
  const ids = new Set((await pool.query("SELECT state FROM waymark.instances WHERE id = $1", [id])).rows[0].state.slice(1).split(",").map(Number));
  t.true((await chunkRows()).every((r) => ids.has(r.id)));

  // Finished: the state goes, and its chunks with it.
  t.like(await write(null, "a", claim!.epoch, "completed"), { written: true });
  t.deepEqual(await chunkRows(), []);
  t.is((await instanceGetFull(pool, { id: id! }))!.state, null);
});

test("garbage collection takes an instance's chunks with it", async (t) => {
  const { pool, queue } = await storeSetup(t);
  const [id] = await queue(1);
  await pool.query("INSERT INTO waymark.state_chunks (instance_id, id, data) VALUES ($1, 1, 'x'), ($1, 2, 'y')", [id]);
  await pool.query("UPDATE waymark.instances SET status = 'failed', finished_at = now() - interval '2 hours' WHERE id = $1", [id]);
  t.is(await instancesCollect(pool, { retentionHours: 1, limit: 10 }), 1);
  t.is((await pool.query("SELECT count(*)::int AS n FROM waymark.state_chunks")).rows[0].n, 0);
});
