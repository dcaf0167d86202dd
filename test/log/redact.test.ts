import test from "ava";
import { createLogger } from "../../log/logger.js";
import { redact, redactText } from "../../log/redact.js";

/** [connection string, what is shown]: the whole password is hidden, the rest kept where it can be. */
const CASES: Array<[string, string]> = [
  ["postgres://app:secret@db.internal:5432/app", "postgres://app:***@db.internal:5432/app"],
  ["postgresql://app:secret@db.internal/app?sslmode=require", "postgresql://app:***@db.internal/app?sslmode=require"],
  // A raw @, :, / (and ? and #) in the password: the last @ ends it.
  ["postgres://app:p@ss@db.internal/app", "postgres://app:***@db.internal/app"],
  ["postgres://app:p@ss:w/rd@db.internal:5432/app", "postgres://app:***@db.internal:5432/app"],
  ["postgres://app:a:b:c@db.internal/app", "postgres://app:***@db.internal/app"],
  ["postgres://app:/sec/ret/@db.internal/app", "postgres://app:***@db.internal/app"],
  ["postgres://app:q?x#y@db.internal/app", "postgres://app:***@db.internal/app"],
  // Percent-encoded.
  ["postgres://app:p%40ss%3Aw%2Frd@db.internal/app", "postgres://app:***@db.internal/app"],
  // An @ in the query string hides more, never less.
  ["postgres://app:secret@db.internal/app?application_name=a@b", "postgres://app:***@b"],
  // The password as a query parameter.
  ["postgres://db.internal/app?user=app&password=secret&sslmode=require", "postgres://db.internal/app?user=app&password=***&sslmode=require"],
  ["postgres://db.internal/app?sslpassword=secret", "postgres://db.internal/app?sslpassword=***"],
  // No password, nothing to hide.
  ["postgres://app@db.internal/app", "postgres://app@db.internal/app"],
  ["postgres://db.internal:5432/app", "postgres://db.internal:5432/app"],
  ["/var/run/postgresql app", "/var/run/postgresql app"],
  // Written without a scheme, or with the wrong one.
  ["app:secret@db.internal:5432/app", "app:***@db.internal:5432/app"],
  ["app:p@ss/w:rd@db.internal/app", "app:***@db.internal/app"],
  ["//app:secret@db.internal/app", "//app:***@db.internal/app"],
  ["mysql://app:secret@db.internal/app", "mysql://app:***@db.internal/app"],
  ["db.internal:5432", "db.internal:5432"],
  // libpq's key=value form, quoted values included.
  ["host=db.internal user=app password=secret dbname=app", "host=db.internal user=app password=*** dbname=app"],
  ["host=db.internal password = s@c:r/t user=app", "host=db.internal password = *** user=app"],
  ["password='se cr\\'et' host=db.internal", "password=*** host=db.internal"],
  ["host=db.internal sslpassword=secret", "host=db.internal sslpassword=***"],
];

for (const [input, shown] of CASES) {
  test(`redact(${JSON.stringify(input)})`, (t) => {
    t.is(redact(input), shown);
    // The same string inside a sentence (a log line, an error message) is hidden the same way.
    const sentence = redactText(`cannot connect to ${input}: ECONNREFUSED`);
    for (const secret of ["secret", "p@ss", "w/rd", "w:rd", "s@c:r/t", "se cr", "sec/ret", "q?x#y", "p%40ss"]) {
      if (input.includes(secret)) {
        t.false(shown.includes(secret), `redact leaks ${secret}`);
        t.false(sentence.includes(secret), `redactText leaks ${secret}: ${sentence}`);
      }
    }
  });
}

test("redactText leaves text without credentials alone", (t) => {
  for (const text of [
    "web app listening url=http://127.0.0.1:24119",
    "instance 0191-... failed: Error: boom",
    "user@example.com wrote",
    "the password policy",
  ]) {
    t.is(redactText(text), text);
  }
});

test("the logger hides passwords in every line, text or JSON: messages, fields, error messages and stacks", (t) => {
  for (const format of ["text", "json"] as const) {
    const lines: string[] = [];
    const log = createLogger({ format, write: (l) => lines.push(l) }).scope("sub");
    log.info("connecting to postgres://app:secret@db.internal/app");
    log.warn("failed", { url: "postgres://app:p@ss:w/rd@db.internal/app", dsn: "host=db password=secret" });
    log.error("boom", { error: new Error("could not reach postgresql://app:secret@db.internal/app") });
    // Quotes inside a value: the mask goes in before the value is quoted, so the line stays whole.
    log.info("dsn", { dsn: 'host=db password="secret" user=app', nested: { url: "app:secret@db.internal/app" } });
    t.is(lines.length, 4);
    for (const line of lines) {
      t.notRegex(line, /secret|p@ss|w\/rd/, line);
      t.regex(line, /\*\*\*/, line);
    }
    if (format === "json") {
      for (const line of lines) t.notThrows(() => JSON.parse(line), line);
      t.is(JSON.parse(lines[3]!).dsn, "host=db password=*** user=app");
    } else t.regex(lines[3]!, / dsn="host=db password=\*\*\* user=app" nested=\{"url":"app:\*\*\*@db.internal\/app"\}$/);
  }
});
