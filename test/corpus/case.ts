import type { Workflow } from "waymark";

/**
 * One differential case: a workflow class and the arguments to run it with. The corpus test
 * runs each natively (`runInline`) and through the compiled graph, and expects the same result
 * (or the same error name and message); a supervisor test can run the same list end to end.
 */
export interface CorpusCase {
  workflow: abstract new () => Workflow;
  args: unknown[];
  /** Shown in test titles; defaults to the workflow's name and the arguments. */
  name?: string;
}

/** One case per argument list. */
export function casesOf(workflow: CorpusCase["workflow"], ...argLists: unknown[][]): CorpusCase[] {
  return argLists.map((args) => ({ workflow, args }));
}
