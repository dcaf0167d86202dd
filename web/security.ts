/**
 * Who may do what. With WAYMARK_WEBAPP_TOKEN set, every route needs it: as
 * `Authorization: Bearer <token>`, or the `waymark_token` cookie that visiting any page with
 * `?token=<token>` sets (HttpOnly, SameSite=Strict). Mutations are POST only and refused
 * unless the browser says the request is same-origin (Sec-Fetch-Site, Origin). Without a
 * token (or with WAYMARK_WEBAPP_ALLOWED_HOSTS set), the Host header must name this server, so a
 * DNS-rebinding page cannot reach it. A non-loopback address without a token refuses to start
 * unless WAYMARK_WEBAPP_INSECURE says so.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import os from "node:os";
import { ConfigError } from "../config/env.js";

const COOKIE = "waymark_token";

export const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on its own form posts.
  "Referrer-Policy": "same-origin",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

/** The host part of a `host:port` address (brackets kept off IPv6). */
export function addrHost(addr: string): string {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr.trim());
  const host = m ? m[1]! : addr;
  return host.startsWith("[") ? host.slice(1, -1) : host;
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::ffff:127.0.0.1";
}

export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time comparison (of digests, so the lengths match). */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(expected));
}

function cookieGet(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function tokenCookie(token: string): string {
  return `${COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
}

/** The token a request carries, if any (header first, then the cookie). */
export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  if (m) return m[1]!.trim();
  return cookieGet(req, COOKIE);
}

/** Shorter tokens start with a warning: a token is all that guards the data. */
const TOKEN_MIN_LENGTH = 16;

/**
 * Whether the web app may start on this address, and what to warn about. A non-loopback
 * address without a token is refused (anyone who can reach it could read every workflow's data
 * and cancel instances) unless the risk is accepted with WAYMARK_WEBAPP_INSECURE.
 */
export function exposureCheck(p: { addr: string; token: string | undefined; insecure?: boolean }): { warnings: string[] } {
  const host = addrHost(p.addr);
  const warnings: string[] = [];
  if (p.token !== undefined && !p.token.trim()) {
    throw new ConfigError("WAYMARK_WEBAPP_TOKEN is set but blank: set it to a long random secret (e.g. the output of `openssl rand -hex 32`), or unset it");
  }
  if (p.token !== undefined && p.token.length < TOKEN_MIN_LENGTH) {
    warnings.push(
      `WAYMARK_WEBAPP_TOKEN is only ${p.token.length} characters long: use at least ${TOKEN_MIN_LENGTH} random ones (e.g. the output of \`openssl rand -hex 32\`)`,
    );
  }
  if (!p.token && !isLoopback(host)) {
    if (!p.insecure) {
      throw new ConfigError(
        `the web app would serve ${p.addr}, a non-loopback address, without a token: anyone who can reach it could read every workflow's data and cancel instances. ` +
          "Set WAYMARK_WEBAPP_TOKEN to a long random secret (e.g. the output of `openssl rand -hex 32`), " +
          "or listen on a loopback address (WAYMARK_WEBAPP_ADDR=127.0.0.1:24119), " +
          "or accept the risk with WAYMARK_WEBAPP_INSECURE=true (`waymark web --insecure`)",
      );
    }
    warnings.push(
      "the web app is served on a non-loopback address without WAYMARK_WEBAPP_TOKEN (WAYMARK_WEBAPP_INSECURE): anyone who can reach it can read every workflow's data and cancel instances",
    );
  }
  return { warnings };
}

/** A Host header's name: lower case, without the port, the brackets of IPv6 or a final dot. */
function hostnameOf(req: IncomingMessage): string {
  const host = (req.headers.host ?? "").trim().toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host);
  const name = m ? m[1]! : host;
  return (name.startsWith("[") ? name.slice(1, -1) : name).replace(/\.$/, "");
}

/**
 * The names a request's Host header may give, or undefined when any will do. Checked whenever
 * there is no token (a DNS-rebinding page would otherwise reach the data: its requests name the
 * attacker's domain), and with a token when WAYMARK_WEBAPP_ALLOWED_HOSTS is set: loopback
 * names, the bind address (for 0.0.0.0 or ::, this machine's own addresses), and the list.
 */
export function hostPolicy(p: { bindHost: string; token: string | undefined; allowedHosts?: readonly string[] }): Set<string> | undefined {
  const listed = p.allowedHosts ?? [];
  if (p.token && !listed.length) return undefined;
  const names = new Set(listed.map((h) => h.toLowerCase()));
  if (isWildcard(p.bindHost)) {
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
  } else names.add(p.bindHost.toLowerCase());
  return names;
}

/** Whether the Host header names this server under the policy (its name when not). */
export function hostAllowed(req: IncomingMessage, allowed: Set<string> | undefined): { ok: true } | { ok: false; name: string } {
  if (!allowed) return { ok: true };
  const name = hostnameOf(req);
  return isLoopback(name) || allowed.has(name) ? { ok: true } : { ok: false, name };
}

/**
 * Where a redirect may go: a path on this server, else `/`. Refused: anything not starting with
 * one `/` (schemes, `//host` and `/\host`, which browsers read as another host), control
 * characters and spaces (browsers drop tabs and newlines, turning `/\t/host` into `//host`),
 * backslashes, and anything not plain ASCII.
 */
export function safeRedirect(to: string | null | undefined): string {
  return typeof to === "string" && to.length <= 4096 && /^\/(?![/\\])[\x21-\x7e]*$/.test(to) && !to.includes("\\") ? to : "/";
}

/**
 * Whether a POST may change anything: browsers send Sec-Fetch-Site and Origin on every
 * cross-site POST, so a request that claims another site (or a sandboxed `null` origin) is
 * refused. Clients that send neither (curl, scripts) are not browsers and cannot be tricked.
 */
export function sameOrigin(req: IncomingMessage): { ok: true } | { ok: false; reason: string } {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") return { ok: false, reason: `a ${String(site)} request cannot change anything (Sec-Fetch-Site)` };
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = origin === "null" ? undefined : new URL(origin).host.toLowerCase();
    } catch {
      host = undefined;
    }
    if (!host || host !== (req.headers.host ?? "").toLowerCase()) {
      return { ok: false, reason: `a request from origin ${origin} cannot change anything here` };
    }
  }
  return { ok: true };
}
