/**
 * The workflow and actions of the example app. The workers load this module, built
 * (WAYMARK_USER_MODULE=dist/workflows.js), to run the actions and the workflow's graph; the
 * server imports it to start checkouts. Both run the same build: one image holds both.
 */
import { action, BackoffPolicy, RetryPolicy, workflow, Workflow } from "waymark";

export interface OrderLine {
  sku: string;
  quantity: number;
}

export interface Order {
  email: string;
  lines: OrderLine[];
}

const PRICES_CENTS: Record<string, number> = { tea: 450, cup: 1200, kettle: 3900 };

const RETRY = new RetryPolicy({ attempts: 3 });
const BACKOFF = new BackoffPolicy({ baseDelayMs: 1_000 });

/** An action: the real work (a price service, a database), run in a worker's child process. */
export const priceLine = action(async function priceLine(line: OrderLine): Promise<number> {
  const price = PRICES_CENTS[line.sku];
  if (price === undefined) throw new Error(`unknown sku ${line.sku}`);
  return price * line.quantity;
});

export const sendReceipt = action(async function sendReceipt(email: string, totalCents: number): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 20)); // the mail provider's latency
  return `receipt-${email.split("@")[0]}-${totalCents}`;
});

/** The workflow: ordinary TypeScript, compiled once into a durable graph. */
@workflow
export class CheckoutWorkflow extends Workflow {
  async run(order: Order) {
    // Every line is priced in parallel; an unknown sku rejects its own line only.
    const prices = await Promise.allSettled(order.lines.map((line) => priceLine(line)));
    const priced: Array<OrderLine & { cents: number }> = [];
    const rejected: Array<{ sku: string; error: string }> = [];
    prices.forEach((p, i) => {
      const line = order.lines[i]!;
      if (p.status === "fulfilled") priced.push({ ...line, cents: p.value });
      else rejected.push({ sku: line.sku, error: (p.reason as Error).message });
    });
    const totalCents = priced.reduce((sum, line) => sum + line.cents, 0);
    let receipt: string | null = null;
    // The mail provider fails now and then: three attempts, a second apart.
    if (priced.length > 0) receipt = await this.runAction(sendReceipt(order.email, totalCents), { retry: RETRY, backoff: BACKOFF });
    return { totalCents, priced, rejected, receipt };
  }
}
