/**
 * One structured logger, injected into every component and scoped per component.
 * Lines go to stderr as `time level component message {fields}`; with
 * `WAYMARK_LOG_FORMAT=json`, as one JSON object per line.
 * Database passwords are hidden from every line (log/redact.ts), wherever a connection string
 * turns up in it: a message, a field, an error's message or stack.
 */
import { isSpanContextValid, trace } from "@opentelemetry/api";
import { redactText } from "./redact.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

type LogFields = Record<string, unknown>;

export interface Logger {
  log(level: Exclude<LogLevel, "silent">, message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger for a sub-component: its name is appended to this one's. */
  scope(component: string): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: "text" | "json";
  component?: string;
  write?: (line: string) => void;
}

/** A JSON.stringify replacer that hides passwords in every string, however deep. */
const hide = (_key: string, value: unknown) => (typeof value === "string" ? redactText(value) : value);

function describe(value: unknown): string {
  if (value instanceof Error) return redactText(value.stack ?? `${value.name}: ${value.message}`);
  if (typeof value === "string") {
    const text = redactText(value);
    return /\s|"/.test(text) ? JSON.stringify(text) : text;
  }
  if (typeof value === "bigint") return `${value}n`;
  try {
    return JSON.stringify(value, hide) ?? String(value);
  } catch {
    return redactText(String(value));
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const format = options.format ?? "text";
  const component = options.component ?? "waymark";
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const threshold = RANK[level];

  const log = (lvl: Exclude<LogLevel, "silent">, message: string, fields?: LogFields) => {
    if (RANK[lvl] < threshold) return;
    const time = new Date().toISOString();
    // Each value is redacted before it is quoted or escaped, so a mask never breaks the quoting.
    if (format === "json") {
      const record: LogFields = { time, level: lvl, component, message };
      // Within a span (an OpenTelemetry SDK registered): its ids, to join the log to the trace.
      const span = trace.getActiveSpan()?.spanContext();
      if (span && isSpanContextValid(span)) {
        record.traceId = span.traceId;
        record.spanId = span.spanId;
      }
      for (const [k, v] of Object.entries(fields ?? {})) {
        record[k] = v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : typeof v === "bigint" ? String(v) : v;
      }
      let line: string;
      try {
        line = JSON.stringify(record, hide);
      } catch {
        line = JSON.stringify({ time, level: lvl, component, message }, hide);
      }
      write(line);
      return;
    }
    const rest = Object.entries(fields ?? {})
      .map(([k, v]) => `${k}=${describe(v)}`)
      .join(" ");
    write(`${time} ${lvl.toUpperCase().padEnd(5)} [${component}] ${redactText(message)}${rest ? " " + rest : ""}`);
  };

  return {
    level,
    log,
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
    scope: (sub) => createLogger({ level, format, component: `${component}.${sub}`, write }),
  };
}

/** A logger that drops everything: for library code used without a configured logger. */
export const silentLogger: Logger = createLogger({ level: "silent" });
