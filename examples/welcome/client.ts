/**
 * The app side: queue a workflow and wait for its result. The workflow body never runs here;
 * `waymark supervise` (started with `npm start`) runs it. Run with `npm run example`.
 */
import { close } from "waymark";
import { WelcomeEmailWorkflow } from "./workflows.js";

const started = performance.now();
const results = await new WelcomeEmailWorkflow().run(["u1", "u2", "u3", "u4"]);
console.log(JSON.stringify(results, null, 2));
console.log(`done in ${Math.round(performance.now() - started)} ms`);
await close();
