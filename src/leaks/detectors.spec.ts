import { generateKeyPairSync, randomBytes, randomUUID, createHash } from 'node:crypto';
import { DETECTOR_NAMES, detectFormat, detectLeak, isSecretName, looksRandom } from './detectors';

// Test credentials are assembled at run time: no file of the repository holds one whole.
const alnum = (n: number, seed = 'a') => createHash('sha512').update(seed).digest('base64').replace(/[^A-Za-z0-9]/g, '').repeat(4).slice(0, n);
const upper = (n: number) => alnum(200, 'u').toUpperCase().replace(/[^A-Z0-9]/g, '').slice(0, n);
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

const SAMPLES: Record<string, string> = {
  'private-key': generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  'stripe-live-key': ['sk', 'live', alnum(99)].join('_'),
  'stripe-test-key': ['rk', 'test', alnum(24)].join('_'),
  'stripe-webhook-secret': 'whsec' + '_' + alnum(32),
  'aws-access-key-id': 'AKIA' + upper(16),
  'github-token': 'ghp' + '_' + alnum(36),
  'gitlab-token': 'glpat' + '-' + alnum(20),
  'slack-token': 'xoxb' + '-' + '123456789012-1234567890123-' + alnum(24),
  'slack-webhook-url': 'https://hooks.slack.com/services/' + 'T0' + upper(7) + '/B0' + upper(7) + '/' + alnum(24),
  'google-api-key': 'AIza' + alnum(35),
  'openai-api-key': 'sk-' + 'proj-' + alnum(48),
  'anthropic-api-key': 'sk-' + 'ant-api03-' + alnum(93),
  'npm-token': 'npm' + '_' + alnum(36),
  'sendgrid-api-key': 'SG' + '.' + alnum(22) + '.' + alnum(43),
  'bifrost-token': 'bft' + '_' + randomBytes(32).toString('base64url'),
  jwt: [b64url({ alg: 'HS256', typ: 'JWT' }), b64url({ sub: '1234567890', name: 'someone', iat: 1516239022 }), randomBytes(32).toString('base64url')].join('.'),
  'url-with-password': 'postgres://app:' + alnum(12) + '@db.internal:5432/app',
  'high-entropy-under-secret-name': randomBytes(24).toString('base64url'),
};

describe('leak detectors', () => {
  it('has a sample for every detector', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...DETECTOR_NAMES].sort());
  });

  for (const [name, sample] of Object.entries(SAMPLES)) {
    if (name === 'high-entropy-under-secret-name') continue;
    it(`${name}: found alone, inside text, and inside a json value`, () => {
      expect(detectLeak('ordinary_setting', sample)).toEqual({ detector: name });
      expect(detectLeak('notes', `use ${sample} here`)).toEqual({ detector: name });
      expect(detectLeak('settings', { a: [1, true, { deep: sample }] })).toEqual({ detector: name });
    });
  }

  it('github fine-grained tokens, other prefixes and ASIA keys', () => {
    expect(detectFormat('github_pat_' + alnum(22) + '_' + alnum(59))).toEqual({ detector: 'github-token' });
    for (const p of ['gho', 'ghs', 'ghu', 'ghr']) expect(detectFormat(`${p}_${alnum(36)}`)).toEqual({ detector: 'github-token' });
    expect(detectFormat('ASIA' + upper(16))).toEqual({ detector: 'aws-access-key-id' });
    for (const x of 'abposr') expect(detectFormat(`xox${x}-${alnum(20)}`)).toEqual({ detector: 'slack-token' });
    expect(detectFormat('-----BEGIN RSA PRIVATE KEY-----\nMIIE...')).toEqual({ detector: 'private-key' });
    expect(detectFormat('-----BEGIN OPENSSH PRIVATE KEY-----')).toEqual({ detector: 'private-key' });
  });

  it('the key-name rule: a random string under a credential-named key or member', () => {
    const token = SAMPLES['high-entropy-under-secret-name'];
    const found = { detector: 'high-entropy-under-secret-name' };
    for (const key of ['db_password', 'smtpPassword', 'client_secret', 'auth_token', 'api_key', 'apiKey', 'x-api-key', 'STRIPE_SECRET', 'access_tokens', 'signing_key', 'pwd']) {
      expect(detectLeak(key, token)).toEqual(found);
    }
    expect(detectLeak('db', { host: 'db.internal', password: token })).toEqual(found);
    expect(detectLeak('api_keys', [token])).toEqual(found);
    expect(detectLeak('credentials', { primary: token })).toEqual(found);
    // A git SHA or hex key under a credential-named key is a credential.
    expect(detectLeak('webhook_secret', randomBytes(20).toString('hex'))).toEqual(found);
    expect(detectLeak('password', 'Tr0ub4dor&3xyzQw')).toEqual(found);
  });

  describe('false positives: ordinary values pass', () => {
    const sha = createHash('sha1').update('commit').digest('hex');
    const ordinary: [string, unknown][] = [
      ['request_id', randomUUID()],
      ['api_key', randomUUID()], // a UUID is read as an id, wherever it is (documented)
      ['homepage', 'https://example.com/path?query=1#frag'],
      ['db_url', 'postgres://db.internal:5432/app'],
      ['db_url', 'postgres://app@db.internal:5432/app'],
      ['db_url', 'postgres://app:${DB_PASSWORD}@db.internal/app'],
      ['db_url', 'mysql://root:****@127.0.0.1/test'],
      ['deployed_commit', sha],
      ['release', { commit: sha, tag: 'v1.2.3' }],
      ['logo', Buffer.from('hello world, this is a logo description').toString('base64')],
      ['greeting', 'hello'],
      ['note', 'The token is rotated every 30 days; ask the platform team for a new one.'],
      ['max_tokens', 4096],
      ['retries', 3],
      ['ratio', 0.25],
      ['enabled', true],
      ['nothing', null],
      ['token_url', 'https://auth.example.com/oauth/token'],
      ['token_ttl', '3600'],
      ['secret_name', 'prod/stripe/' + alnum(20)],
      ['password_env', 'DB_PASSWORD'],
      ['api_key_header', 'X-Api-Key'],
      ['secret_path', '/var/run/secrets/kubernetes.io/serviceaccount/token'],
      ['vault', { secret_path: 'secret/data/prod', token_ttl: '1h', auth: { method: 'kubernetes' } }],
      ['password_policy', { min_length: 12, require_digits: true }],
      ['token', 'replace-me-with-the-real-token'],
      ['secret_region', 'production-eu-west-1'],
      ['token_issuer', 'https://issuer.example.com'],
      ['stripe_publishable_key', 'pk_live_' + alnum(24)],
      ['identifier', 'task_sk_live_is_a_name'],
      ['path', 'AKIA is a prefix'],
      ['jwt_like', 'eyJhbGciOiJub25l.eyJzdWIiOiIxIn0'],
      ['dotted', 'eyJxxxxxxxxxxxxx.eyJxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxx'],
      ['password', 'short1A'],
      ['secret', 'a'.repeat(40)],
      ['numbers', ['1234567890123456', 42]],
    ];
    for (const [key, value] of ordinary) {
      it(`${key} = ${JSON.stringify(value).slice(0, 60)}`, () => {
        expect(detectLeak(key, value)).toBeNull();
      });
    }
  });

  it('names: credential names and names about credentials', () => {
    for (const n of ['password', 'db_password', 'dbPassword', 'client_secret', 'secrets', 'githubToken', 'API_KEY', 'apikey', 'private-key', 'credentials']) expect(isSecretName(n)).toBe(true);
    for (const n of ['token_url', 'secret_name', 'passwordEnv', 'api_key_header', 'max_tokens_count', 'cache_key', 'sort_key', 'monkey', 'tokenizer', 'passenger', 'bypass']) expect(isSecretName(n)).toBe(false);
  });

  it('random-looking: long, mixed, high-entropy single tokens only', () => {
    expect(looksRandom(randomBytes(24).toString('base64'))).toBe(true);
    expect(looksRandom('correcthorsebatterystaple')).toBe(false);
    expect(looksRandom('two words ' + alnum(20))).toBe(false);
    expect(looksRandom(alnum(15))).toBe(false);
    expect(looksRandom('1111111111111111a')).toBe(false);
  });

  it('a deep or wide json value is walked without recursion', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    expect(detectLeak('deep', deep)).toBeNull();
    expect(detectLeak('wide', Array.from({ length: 5000 }, (_, i) => `value ${i}`))).toBeNull();
  });
});
