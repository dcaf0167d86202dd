/**
 * What one workflow class's compilation shares across its functions: the IR's function list,
 * the helpers compiled so far (and those in progress, so recursion is refused), and `fail`, the
 * one way the compiler refuses code, naming the rule, quoting the source and giving a code frame.
 * Positions are relative to the class's line, so edits above the class leave the hash alone.
 */
import type { Class, ClassMethod, Span } from "@swc/core";
import { UnsupportedPatternError } from "../core/errors.js";
import type { FnIR, Pos } from "../core/ir.js";
import type { ActionLookup } from "./resolve.js";
import type { Rule } from "./rules.js";
import type { SourceFile } from "./source.js";

/** The span of any AST node (JSX nodes lack one in swc's types). */
export function spanOf(node: object): Span {
  return (node as { span?: Span }).span ?? ({ start: 0, end: 0, ctxt: 0 } as Span);
}

/** A method found on the workflow class or one of its ancestors, with the module it lives in. */
export interface MethodSource {
  method: ClassMethod;
  module: SourceFile;
}

/** State shared by every function compiled for one workflow class. */
export class WorkflowContext {
  readonly fns: FnIR[] = [];
  /** helper name -> function index, filled as helpers are compiled. */
  readonly helpers = new Map<string, number>();
  /** The child workflows its body may start, by registered name. */
  readonly children = new Set<string>();
  /** helpers being compiled right now: a call back into one of them is recursion. */
  readonly helperStack: string[] = [];
  /** Line of the class declaration: positions in the IR are relative to it, so edits above the class do not change the hash. */
  readonly baseLine: number;

  constructor(
    readonly workflowName: string,
    readonly module: SourceFile,
    readonly classNode: Class & { span: Span },
    readonly lookup: ActionLookup,
    readonly findMethod: (name: string) => MethodSource | undefined,
  ) {
    this.baseLine = module.loc(classNode.span.start).line;
  }

  pos(module: SourceFile, node: object): Pos {
    const { line, column } = module.loc(spanOf(node).start);
    return [line - this.baseLine + 1, column];
  }

  /** Throws the UnsupportedPatternError for `rule` at `node`, quoting the offending source. */
  fail(module: SourceFile, node: object, rule: Rule, detail?: string): never {
    const span = spanOf(node);
    const { line, column } = module.loc(span.start);
    let snippet = module.slice(span).split("\n")[0]!.trim();
    if (snippet.length > 80) snippet = snippet.slice(0, 77) + "...";
    throw new UnsupportedPatternError({
      rule: rule.id,
      message: `${rule.message}${detail ? ` (${detail})` : ""}: \`${snippet}\` in workflow ${this.workflowName}`,
      hint: rule.hint,
      location: { file: module.file, line, column },
      frame: module.frame(line, column),
    });
  }
}
