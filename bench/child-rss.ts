/**
 * How much memory an idle action child holds (`node dist/bench/child-rss.js [module] [--children n]`):
 * forks dist/child/main.js as the pool does with a user module (the welcome example by default),
 * waits for it to report ready, lets it settle, and reads its resident set from /proc. Linux only.
 */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const args = process.argv.slice(2);
const countAt = args.indexOf("--children");
const children = countAt >= 0 ? Number(args[countAt + 1]) : 3;
const module = path.resolve(
  args.find((a, i) => !a.startsWith("--") && !(countAt >= 0 && i === countAt + 1)) ?? path.join(ROOT, "examples/welcome/workflows.ts"),
);

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

const seen: number[] = [];
for (let i = 0; i < children; i++) {
  const child = fork(path.join(ROOT, "dist/child/main.js"), [], {
    cwd: ROOT,
    env: { ...process.env, WAYMARK_CHILD: "1", WAYMARK_CHILD_MODULES: JSON.stringify([module]), WAYMARK_CHILD_CONCURRENCY: "10" },
    execArgv: [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((resolve, reject) => {
    child.on("message", (m: { t?: string }) => m.t === "ready" && resolve());
    child.once("exit", (code) => reject(new Error(`the child exited (${code}) before it was ready`)));
  });
  // Settled: what it holds while it waits for work, not while it loads.
  await new Promise((r) => setTimeout(r, 1500));
  seen.push(rssMb(child.pid!));
  child.kill();
}
const bare = rssMb(process.pid);
console.log(
  `idle child with ${path.relative(process.cwd(), module)}: ${seen.map((m) => `${m.toFixed(1)} MB`).join(", ")} (this bare process: ${bare.toFixed(1)} MB)`,
);
