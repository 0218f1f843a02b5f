import { AppError, badRequest } from './errors';
import { idParam, isScope, isUuid, orgIdParam, scopeParam } from './params';
import { configKeyParam } from '../configs/config-values';

const ID = '3f0e9a2c-1b7d-4c55-9a8e-0d2f6b1c7e41';
const answerOf = (pipe: { transform(value: unknown): string }, value: unknown) => {
  try {
    return { value: pipe.transform(value) };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { status: err.getStatus(), code: err.code, text: JSON.stringify(err.getResponse()) };
  }
};

/** Ids, scopes and keys a client could send in a path: none of them is a UUID. */
const NOT_IDS = ['', 'not-a-uuid', ID.toUpperCase(), ` ${ID}`, `${ID} `, `${ID}0`, ID.slice(0, -1), `{${ID}}`, ID.replace(/-/g, ''), `${ID}\n`, `${ID}%00`, `' OR 1=1 --`, 'x'.repeat(100_000)];

describe('the UUID rule', () => {
  it('is the form this service issues: lowercase, 8-4-4-4-12 hex', () => {
    expect(isUuid(ID)).toBe(true);
    expect(isUuid('00000000-0000-0000-0000-000000000000')).toBe(true);
    for (const bad of [...NOT_IDS, undefined, null, 42, [ID], { id: ID }]) expect({ bad: String(bad).slice(0, 40), ok: isUuid(bad) }).toEqual({ bad: String(bad).slice(0, 40), ok: false });
  });

  it('a scope is `global` or such an id, nothing else', () => {
    expect(isScope('global')).toBe(true);
    expect(isScope(ID)).toBe(true);
    for (const bad of ['GLOBAL', 'Global', 'global ', 'all', ...NOT_IDS]) expect(isScope(bad)).toBe(false);
  });
});

describe('the parameter pipes', () => {
  it('pass a valid value on as it is', () => {
    expect(answerOf(scopeParam, 'global')).toEqual({ value: 'global' });
    expect(answerOf(scopeParam, ID)).toEqual({ value: ID });
    expect(answerOf(orgIdParam, ID)).toEqual({ value: ID });
    expect(answerOf(configKeyParam, 'stripe_api_key')).toEqual({ value: 'stripe_api_key' });
    expect(answerOf(configKeyParam, `_${'k'.repeat(254)}`)).toEqual({ value: `_${'k'.repeat(254)}` });
  });

  it('refuse anything else with the route’s own status and code, never naming the value', () => {
    const tokenId = idParam(() => badRequest('INVALID_ID', 'id must be a UUID'));
    for (const bad of [...NOT_IDS, 'GLOBAL']) {
      for (const [pipe, status, code] of [
        [scopeParam, 400, 'INVALID_SCOPE'],
        [orgIdParam, 400, 'INVALID_ID'],
        [tokenId, 400, 'INVALID_ID'],
      ] as const) {
        const answer = answerOf(pipe, bad);
        expect({ bad: bad.slice(0, 40), status: answer.status, code: answer.code }).toEqual({ bad: bad.slice(0, 40), status, code });
        if (bad.length > 6) expect(answer.text).not.toContain(bad);
      }
    }
    expect(answerOf(scopeParam, 'global')).toEqual({ value: 'global' });
  });

  it('refuse a key that is over-long, empty, or holds what a key may not', () => {
    for (const bad of ['', '.hidden', '-x', 'a/b', '../etc', 'a b', 'ключ', 'k'.repeat(256), 'x'.repeat(100_000), 'a%2Fb', 'a\u0000b']) {
      const answer = answerOf(configKeyParam, bad);
      expect({ bad: bad.slice(0, 40), status: answer.status, code: answer.code }).toEqual({ bad: bad.slice(0, 40), status: 400, code: 'INVALID_KEY' });
      if (bad.length > 6) expect(answer.text).not.toContain(bad);
    }
  });
});
