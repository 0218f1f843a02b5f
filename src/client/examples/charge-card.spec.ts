import { inspect } from 'node:util';
import { BifrostClient, ConfigNotFoundError } from '../index';
import { fakeBifrost, sendJson, StandIn, startStandIn } from '../testing/stand-in-server';
import { chargeCard } from './charge-card';

const TOKEN = 'bft_charge_card_spec_token_0123456789abcdef0123456789ab';
const KEY = 'sk_live_51HxExampleStripeKey0000';

const servers: StandIn[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(configs: Parameters<typeof fakeBifrost>[0]['configs'], paymentStatus = 200, executionTokens = true) {
  const bifrost = fakeBifrost({ token: TOKEN, configs, executionTokens });
  const b = await startStandIn(bifrost.handler);
  const pay = await startStandIn((_req, res) =>
    paymentStatus === 200 ? sendJson(res, 200, { id: 'ch_123', status: 'succeeded' }) : sendJson(res, paymentStatus, { error: 'declined' }),
  );
  servers.push(b, pay);
  const client = new BifrostClient({ baseUrl: b.url, token: TOKEN, org: 'acme' });
  return { bifrost, b, pay, client };
}

describe('examples/charge-card', () => {
  it('runs the workflow, making the classic mistake', async () => {
    const { bifrost, b, pay, client } = await setup({ stripe_api_key: { type: 'secret', value: KEY } });
    const run = await chargeCard(client, { amount: 1999, currency: 'usd', paymentUrl: `${pay.url}/v1/charges` });

    expect(run.executionId).toBe('exec-1');
    expect(run.result).toEqual({ charged: true, chargeId: 'ch_123', amount: 1999, currency: 'usd', apiKey: KEY });

    expect(pay.requests).toHaveLength(1);
    expect(pay.requests[0]).toMatchObject({ method: 'POST', url: '/v1/charges', body: { amount: 1999, currency: 'usd' } });
    expect(pay.requests[0].headers.authorization).toBe(`Bearer ${KEY}`);

    expect(b.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /api/executions',
      'GET /api/sdk/configs/stripe_api_key',
      'POST /api/executions/exec-1/logs',
      'POST /api/executions/exec-1/finish',
    ]);
    // Only the start carries the engine's token; everything inside the run goes with the execution token.
    const tokens = b.requests.map((r) => r.headers.authorization);
    expect(tokens[0]).toBe(`Bearer ${TOKEN}`);
    for (const t of tokens.slice(1)) expect(t).toMatch(/^Bearer bft_fake_execution_token_exec-1_/);
    // The execution token is bound to its org and execution: no header names them.
    const read = b.requests[1];
    expect(read.headers['x-bifrost-execution']).toBeUndefined();
    expect(read.headers['x-bifrost-org']).toBeUndefined();
    expect(b.requests[0].body).toEqual({ workflow: 'charge_card' });
    expect(b.requests[0].headers['x-bifrost-org']).toBe('acme');
    // The run is over: the client is back on its own token (the execution token would be refused now).
    await client.execution.get('exec-1');
    expect(b.requests[4].headers.authorization).toBe(`Bearer ${TOKEN}`);
    await client.config.get('stripe_api_key');
    expect(b.requests[5].headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(b.requests[5].headers['x-bifrost-execution']).toBe('exec-1');

    const exec = bifrost.executions.get('exec-1')!;
    // What the client sent; the real service scrubs it before storing.
    expect(exec.logs).toEqual([{ level: 'info', message: `charging with ${KEY}` }]);
    expect(exec.status).toBe('success');
    expect(exec.result).toEqual(run.result);
  });

  it('still names the execution with X-Bifrost-Execution against a service that issues no execution token', async () => {
    const { b, pay, client } = await setup({ stripe_api_key: { type: 'secret', value: KEY } }, 200, false);
    await chargeCard(client, { amount: 5, currency: 'usd', paymentUrl: `${pay.url}/v1/charges` });
    for (const r of b.requests) expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(b.requests[1].headers['x-bifrost-execution']).toBe('exec-1');
  });

  it('keeps the execution token out of what start answers and of the client’s printed forms', async () => {
    const { client } = await setup({});
    const started = await client.execution.start('charge_card');
    expect(JSON.stringify(started)).not.toContain('bft_fake_execution_token');
    expect(started.tokenExpiresAt).toEqual(expect.any(String));
    expect(JSON.stringify(client)).not.toContain('bft_');
    expect(inspect(client, { showHidden: true, depth: 5 })).not.toContain('bft_');
  });

  it('finishes as failed with a KeyError-like error when the key is missing', async () => {
    const { bifrost, pay, client } = await setup({});
    const err = await chargeCard(client, { amount: 1, currency: 'eur', paymentUrl: pay.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigNotFoundError);
    expect(pay.requests).toHaveLength(0);
    expect(bifrost.executions.get('exec-1')).toMatchObject({
      status: 'failed',
      error: { name: 'ConfigNotFoundError', message: "'stripe_api_key'" },
    });
  });

  it('finishes as failed when the payment provider declines', async () => {
    const { bifrost, pay, client } = await setup({ stripe_api_key: { type: 'secret', value: KEY } }, 402);
    await expect(chargeCard(client, { amount: 1, currency: 'eur', paymentUrl: pay.url })).rejects.toThrow('payment provider answered 402');
    expect(bifrost.executions.get('exec-1')).toMatchObject({
      status: 'failed',
      error: { name: 'Error', message: 'payment provider answered 402' },
      logs: [],
    });
  });
});
