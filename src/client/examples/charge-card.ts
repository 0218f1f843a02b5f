/**
 * Bifrost's documented `charge_card` workflow, on the service client.
 *
 * It makes the classic mistake on purpose: it logs the Stripe key and returns it
 * inside its result. The service's scrubber is what keeps the key out of the
 * stored execution (logs, result) and out of every answer: this example is how
 * that is shown end to end.
 *
 * `execution.start` switches the client to the run's execution token: the config read,
 * the log line and the finish go out with that short-lived token (bound to this one
 * execution, dead once it finishes), never with the engine's long-lived `BIFROST_TOKEN`,
 * and the key read is registered with this execution's scrubber without any header.
 *
 * Run it: `BIFROST_URL=http://127.0.0.1:3000 BIFROST_TOKEN=bft_... [BIFROST_ORG=acme]
 * PAYMENT_URL=http://127.0.0.1:4000/v1/charges node dist/client/examples/charge-card.js [amount] [currency]`
 */
import { BifrostClient } from '../index';

export interface ChargeCardInput {
  /** Amount in the currency's smallest unit (cents). */
  amount: number;
  currency: string;
  /** The payment provider's charge endpoint (a local stand-in in tests). */
  paymentUrl: string;
}

export interface ChargeCardResult {
  charged: boolean;
  chargeId: unknown;
  amount: number;
  currency: string;
  /** The classic mistake: the key inside the result. */
  apiKey: string;
}

export interface ChargeCardRun {
  executionId: string;
  result: ChargeCardResult;
}

export async function chargeCard(client: BifrostClient, input: ChargeCardInput): Promise<ChargeCardRun> {
  const { config, execution } = client;
  const { id: executionId } = await execution.start('charge_card');
  let result: ChargeCardResult;
  try {
    const apiKey = await config.get<string>('stripe_api_key');
    const response = await fetch(input.paymentUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: input.amount, currency: input.currency }),
    });
    const charge = (await response.json().catch(() => ({}))) as { id?: unknown };
    if (!response.ok) throw new Error(`payment provider answered ${response.status}`);
    // The classic mistake, twice: the key goes into a log line and into the result.
    execution.log('info', `charging with ${apiKey}`);
    result = { charged: true, chargeId: charge.id ?? null, amount: input.amount, currency: input.currency, apiKey };
  } catch (err) {
    // Record the failure (flushing any log lines first), then let the caller see the error.
    await execution.fail(err).catch(() => undefined);
    throw err;
  }
  await execution.finish(result);
  return { executionId, result };
}

async function main(): Promise<void> {
  const baseUrl = process.env.BIFROST_URL;
  const token = process.env.BIFROST_TOKEN;
  const paymentUrl = process.env.PAYMENT_URL;
  if (!baseUrl || !token || !paymentUrl) {
    process.stderr.write('usage: BIFROST_URL=... BIFROST_TOKEN=... [BIFROST_ORG=...] PAYMENT_URL=... charge-card [amount] [currency]\n');
    process.exitCode = 2;
    return;
  }
  const client = new BifrostClient({ baseUrl, token, org: process.env.BIFROST_ORG || undefined });
  const amount = Number(process.argv[2] ?? 1000);
  const currency = process.argv[3] ?? 'usd';
  const { executionId } = await chargeCard(client, { amount, currency, paymentUrl });
  // Print what the service stored (scrubbed), never the local result: it holds the key.
  const stored = await client.execution.get(executionId);
  process.stdout.write(JSON.stringify(stored, null, 2) + '\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    const e = err as { name?: string; message?: string; code?: string };
    process.stderr.write(`${e.name ?? 'Error'}: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}\n`);
    process.exitCode = 1;
  });
}
