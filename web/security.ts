import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * Who may do what. With WAYMARK_WEBAPP_TOKEN set, every route needs it: as
 * `Authorization: Bearer <token>`, or the `waymark_token` cookie that visiting any page with
 * `?token=<token>` sets (HttpOnly, SameSite=Strict). Mutations are POST only and refused
 * unless the browser says the request is same-origin (Sec-Fetch-Site, Origin). Without a
 * token, the Host header must name this server, so a DNS-rebinding page cannot reach it.
 */
export const COOKIE = "waymark_token";

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

export function isLoopback(host: string): boolean {
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

export function cookieGet(req: IncomingMessage, name: string): string | undefined {
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

/** The hostname of the Host header, without the port. */
function hostnameOf(req: IncomingMessage): string {
  const host = (req.headers.host ?? "").trim().toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host);
  return m ? m[1]! : host;
}

/**
 * Without a token, only requests addressed to this server by a name it answers to: a loopback
 * name, or the host it was bound to (any name when bound to all interfaces, which already
 * logged a warning).
 */
export function hostAllowed(req: IncomingMessage, bindHost: string): boolean {
  const name = hostnameOf(req);
  const bare = name.startsWith("[") ? name.slice(1, -1) : name;
  if (isWildcard(bindHost)) return true;
  return isLoopback(bare) || bare === bindHost.toLowerCase();
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
