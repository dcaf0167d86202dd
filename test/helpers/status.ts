import pg from "pg";

/** A supervisor's published status row (waymark.worker_status), by its pid. */
async function statusOf(url: string, pid: number): Promise<Record<string, any> | undefined> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query("SELECT stats FROM waymark.worker_status WHERE pid = $1", [pid]);
    return rows[0]?.stats;
  } finally {
    await c.end();
  }
}

export async function query(url: string, text: string, params: unknown[] = []): Promise<any[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Waits (bounded) until the supervisor's status row satisfies `ready`; returns the row's stats. */
export async function waitForStatus(
  url: string,
  pid: number,
  ready: (stats: Record<string, any>) => boolean,
  timeoutMs = 15_000,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await statusOf(url, pid);
    if (stats && ready(stats)) return stats;
    if (Date.now() > deadline) throw new Error(`the status row of supervisor ${pid} did not get there: ${JSON.stringify(stats)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
