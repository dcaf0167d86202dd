/**
 * Hiding database passwords from messages and logs.
 *
 * A connection string comes in three shapes, and its password may hold any character when the
 * user did not percent-encode it (`@`, `:`, `/`, `?`, `#`):
 *
 *   postgres://user:pass@host:5432/db?sslmode=require   a URL (any scheme: it may be a typo)
 *   user:pass@host:5432/db                              a URL written without its scheme
 *   host=db.internal user=app password='s3 cr@t'        libpq's key=value form
 *
 * The rule errs on the side of hiding too much: in a URL, everything between the first `:` of
 * the user part and the LAST `@` is the password (the host never holds an `@`, so a raw `@` in
 * the password cannot end the mask early; an `@` later in the query string only hides more).
 * A `password=` parameter, in the query or in key=value form, is hidden up to its end.
 */

const MASK = "***";

/** `password=...` (also `sslpassword=`, `DB_PASSWORD=`), in a query string or in key=value form. */
const KEY_VALUE_PASSWORD = /(\b[a-z_]*password\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&;"']*)/gi;

/** libpq's key=value form: it starts with a keyword and `=`, and has no `://`. */
const KEY_VALUE_FORM = /^\s*[a-z_]+\s*=/i;

/** Hides the password of one connection string, whatever its shape. */
export function redact(connection: string): string {
  if (KEY_VALUE_FORM.test(connection) && !connection.includes("://")) {
    return connection.replace(KEY_VALUE_PASSWORD, `$1${MASK}`);
  }
  const scheme = /^(?:[a-z][a-z0-9+.-]*:)?\/\//i.exec(connection);
  const prefix = scheme ? scheme[0] : "";
  let rest = connection.slice(prefix.length);
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) rest = `${userinfo.slice(0, colon + 1)}${MASK}${rest.slice(at)}`;
  }
  return prefix + rest.replace(KEY_VALUE_PASSWORD, `$1${MASK}`);
}

/**
 * A URL with credentials inside free text (an error message, a log line): a scheme, then
 * anything up to whitespace or a quote, with an `@` in it.
 */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`\\]*@[^\s"'<>`\\]*/gi;

/** A word of free text (up to whitespace or a quote) with an `@` in it. */
const WORD_WITH_AT = /[^\s"'<>`\\]*@[^\s"'<>`\\]*/g;

/**
 * Hides every password in a text: connection URLs with credentials (with a scheme or without
 * one: `user:pass@host`), and `password=` values. For log lines and error messages, where a
 * connection string may appear anywhere.
 */
export function redactText(text: string): string {
  if (!text.includes("@") && !/password/i.test(text)) return text;
  return text
    .replace(URL_IN_TEXT, (url) => redact(url))
    .replace(WORD_WITH_AT, (word) => {
      if (word.includes("://")) return word; // done above
      // `dsn=user:pass@host`: the key stays.
      const key = /^[a-z_][\w.-]*=/i.exec(word)?.[0] ?? "";
      const value = word.slice(key.length);
      const at = value.lastIndexOf("@");
      return at > 0 && value.slice(0, at).includes(":") ? key + redact(value) : word;
    })
    .replace(KEY_VALUE_PASSWORD, `$1${MASK}`);
}
