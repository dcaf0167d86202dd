/**
 * Compile-time scopes. Every binding of a function gets a slot name unique within that
 * function (shadowing renames), so the interpreter keeps one flat environment per function
 * activation; an arrow function's environment points at its creator's, and references carry
 * the number of environments to walk up (`up`).
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
    /** The function this scope belongs to: crossing into a parent function adds one `up`. */
    readonly fnId: number,
    readonly slots: FnSlots,
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
    let fnId = this.fnId;
    for (let s: Scope | null = this; s; s = s.parent) {
      if (s.fnId !== fnId) {
        up++;
        fnId = s.fnId;
      }
      const binding = s.vars.get(name);
      if (binding) return { binding, up };
    }
    return undefined;
  }
}
