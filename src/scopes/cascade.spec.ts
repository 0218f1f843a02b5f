import { cascadeScopes, overlay, shadowing } from './cascade';

const ORG = '3f0e9a2c-1b7d-4c55-9a8e-0d2f6b1c7e41';

describe('the cascade: the org shadows global', () => {
  it('reads the org and global scopes', () => {
    expect(new Set(cascadeScopes(ORG))).toEqual(new Set([ORG, 'global']));
  });

  it('picks the org row of a key over the global one, else the global one', () => {
    expect(shadowing([{ scope: 'global', v: 1 }, { scope: ORG, v: 2 }], ORG)).toEqual({ scope: ORG, v: 2 });
    expect(shadowing([{ scope: 'global', v: 1 }], ORG)).toEqual({ scope: 'global', v: 1 });
    expect(shadowing([], ORG)).toBeUndefined();
  });

  it('overlays many keys: one row a key, global keys first in their order, then the org-only ones', () => {
    const rows = [
      { scope: ORG, key: 'a' },
      { scope: 'global', key: 'b' },
      { scope: 'global', key: 'c' },
      { scope: ORG, key: 'c' },
      { scope: ORG, key: 'd' },
    ];
    const merged = overlay(rows, ORG);
    expect([...merged.keys()]).toEqual(['b', 'c', 'a', 'd']);
    expect(merged.get('c')).toEqual({ scope: ORG, key: 'c' });
    expect(merged.get('b')).toEqual({ scope: 'global', key: 'b' });
  });
});
