/**
 * Side-effect entry point: `node --import waymark/register app.ts` (or
 * `--import ./dist/loader/register.js`) lets Node import `.ts` files directly.
 */
import { registerTypeScriptLoader } from "./index.js";

registerTypeScriptLoader();
