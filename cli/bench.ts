import type { CommandModule } from "yargs";

export const benchCommand: CommandModule<
  object,
  { scenarios: string[]; runs: number; smoke: boolean; json: boolean; peers: boolean; size: string[]; "database-url"?: string }
> = {
  command: "bench [scenarios..]",
  describe:
    "Measure throughput and latency against a real supervisor, side by side with graphile-worker, pg-boss and the raw Postgres ceiling (scenarios: fan-out, tiny, sequential, latency, long-history, sleepers)",
  builder: (y) =>
    y
      .positional("scenarios", { type: "string", array: true, default: [] })
      .option("runs", { type: "number", default: 3, describe: "runs per scenario (the report shows medians)" })
      .option("smoke", { type: "boolean", default: false, describe: "tiny sizes: check the harness, not the numbers" })
      .option("json", { type: "boolean", default: false, describe: "one JSON line per scenario" })
      .option("peers", { type: "boolean", default: true, describe: "also run the peers (--no-peers to skip; those not installed are skipped)" })
      .option("size", { type: "string", array: true, default: [], describe: "override a size, e.g. --size fanoutActions=50000" })
      .option("database-url", {
        type: "string",
        describe: "a database the bench may reset (default: WAYMARK_DATABASE_URL, else an embedded server of its own)",
      }),
  handler: async (argv) => {
    const { bench, parseBenchArgs } = await import("../bench/main.js");
    const args = [
      ...argv.scenarios,
      "--runs",
      String(argv.runs),
      ...(argv.smoke ? ["--smoke"] : []),
      ...(argv.json ? ["--json"] : []),
      ...(argv.peers ? [] : ["--no-peers"]),
      ...argv.size.flatMap((s) => ["--size", s]),
    ];
    if (argv["database-url"]) args.push("--database-url", argv["database-url"]);
    await bench(parseBenchArgs(args));
  },
};
