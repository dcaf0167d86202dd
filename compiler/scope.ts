/**
 * Compile-time scopes. Every binding of a function gets a slot name unique within that
 * function (shadowing renames), so the interpreter keeps one flat environment per function
 * activation, plus one per block whose bindings an arrow function captures (`ownsEnv`: each
 * loop iteration must get fresh ones). An arrow function's environment points at the one it
 * was created in, and references carry the number of environments to walk up (`up`).
 */
export type BindingKind = "const" | "let" | "var" | "param" | "temp";

export interface Binding {
  slot: string;
  kind: BindingKind;
}

export class FnSlots {
  private readonly used = new Set<string>();
  private temps = 0;

  slot(name: string): string {
    let slot = name;
    for (let i = 1; this.used.has(slot); i++) slot = `${name}$${i}`;
    this.used.add(slot);
    return slot;
  }

  /** A slot no source identifier can name. */
  temp(prefix = "t"): string {
    return `#${prefix}${++this.temps}`;
  }
}

export class Scope {
  readonly vars = new Map<string, Binding>();
  constructor(
    readonly parent: Scope | null,
    readonly fnId: number,
    readonly slots: FnSlots,
    /** Has an environment of its own at run time: a function's root scope, or a captured block. */
    readonly ownsEnv: boolean,
  ) {}

  declare(name: string, kind: BindingKind): Binding {
    const existing = this.vars.get(name);
    if (existing) return existing;
    const binding = { slot: this.slots.slot(name), kind };
    this.vars.set(name, binding);
    return binding;
  }

  resolve(name: string): { binding: Binding; up: number } | undefined {
    let up = 0;
    for (let s: Scope | null = this; s; s = s.parent) {
      const binding = s.vars.get(name);
      if (binding) return { binding, up };
      if (s.ownsEnv) up++;
    }
    return undefined;
  }
}

function mentions(node: unknown, names: ReadonlySet<string>): boolean {
  if (!node || typeof node !== "object") return false;
  if (Array.isArray(node)) return node.some((n) => mentions(n, names));
  const n = node as { type?: string; value?: unknown };
  if (n.type === "Identifier" && typeof n.value === "string" && names.has(n.value)) return true;
  for (const [k, v] of Object.entries(node)) if (k !== "span" && v && typeof v === "object" && mentions(v, names)) return true;
  return false;
}

/**
 * Whether an arrow function inside `nodes` mentions one of `names`: then the block declaring
 * them needs an environment of its own. Any identifier with the name counts (a property name
 * or a shadowing binding too), which at worst costs an environment.
 */
export function capturedByArrow(nodes: unknown, names: ReadonlyArray<string>): boolean {
  if (names.length === 0) return false;
  const set = new Set(names);
  const visit = (node: unknown): boolean => {
    if (!node || typeof node !== "object") return false;
    if (Array.isArray(node)) return node.some(visit);
    if ((node as { type?: string }).type === "ArrowFunctionExpression") return mentions(node, set);
    for (const [k, v] of Object.entries(node)) if (k !== "span" && v && typeof v === "object" && visit(v)) return true;
    return false;
  };
  return visit(nodes);
}
