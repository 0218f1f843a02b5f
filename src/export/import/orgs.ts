import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { Principal } from '../../auth/roles';
import { Org } from '../../scopes/org.entity';
import { confusableWith, normalizeOrgName } from '../../scopes/org-names';
import { OrgRef, OrgsRepository } from '../../scopes/orgs.repository';
import { isUuid } from '../../common/params';
import type { ParsedRow } from '../bundle';

/** Org names and ids met in a bundle, looked up a batch at a time and remembered. */
export class OrgLookup {
  private readonly byName = new Map<string, string | null>();
  private readonly byId = new Map<string, string | null>();
  /** Names of every org here, read once, plus those this import creates. */
  private allNames?: Set<string>;

  /**
   * @param em the transaction the orgs are read and created in; null: none (the checking pass, a dry run).
   * @param creator when set, create() inserts the org (in `em`'s transaction); else it only pretends.
   * @param plans ids planned (by the checking pass) for the orgs this import creates, by name.
   */
  constructor(
    private readonly orgs: OrgsRepository,
    private readonly em: EntityManager | null,
    private readonly creator: Principal | null = null,
    readonly plans = new Map<string, string>(),
  ) {}

  /**
   * The id the org `name` (one this import creates) is to have, asked for by a secret bound to
   * `id`: the first secret of the org decides; null when `id` cannot be it (not an org id, taken by
   * an org that exists, planned for another org, or another id was planned already).
   */
  async plan(requested: string, id: string): Promise<string | null> {
    const name = normalizeOrgName(requested); // as create() names it
    const planned = this.plans.get(name);
    if (planned !== undefined) return planned === id ? id : null;
    if (!isUuid(id)) return null;
    for (const other of this.plans.values()) if (other === id) return null;
    if (!this.byId.has(id)) {
      const [found] = await this.orgs.withIds([id], this.em);
      if (found) this.remember(found);
      else this.byId.set(id, null);
    }
    if (this.byId.get(id) !== null) return null;
    this.plans.set(name, id);
    return id;
  }

  async prefetch(scopes: ParsedRow['scope'][]): Promise<void> {
    const names = new Set<string>();
    const ids = new Set<string>();
    for (const s of scopes) {
      if (s.kind === 'org' && !this.byName.has(normalizeOrgName(s.name))) names.add(normalizeOrgName(s.name));
      if (s.kind === 'orgId' && !this.byId.has(s.id)) ids.add(s.id);
    }
    if (names.size > 0) {
      const found = await this.orgs.withNames([...names], this.em);
      for (const n of names) this.byName.set(n, null);
      for (const o of found) this.remember(o);
    }
    const uuids = [...ids].filter((id) => isUuid(id));
    for (const id of ids) this.byId.set(id, null);
    if (uuids.length > 0) for (const o of await this.orgs.withIds(uuids, this.em)) this.remember(o);
  }

  private remember(o: OrgRef): void {
    this.byName.set(o.name, o.id);
    this.byId.set(o.id, o.name);
  }

  idOf(name: string): string | null {
    return this.byName.get(normalizeOrgName(name)) ?? null;
  }

  nameOf(id: string): string | null {
    return this.byId.get(id) ?? null;
  }

  /** True when `name` looks like (TR39 skeleton) an org here or one this bundle creates first. */
  async looksLikeAnother(name: string): Promise<boolean> {
    if (!this.allNames) {
      this.allNames = new Set(await this.orgs.allNames(this.em));
      for (const [n, id] of this.byName) if (id !== null) this.allNames.add(n);
    }
    return confusableWith(name, this.allNames) !== null;
  }

  async create(requested: string): Promise<string> {
    const name = normalizeOrgName(requested);
    this.allNames?.add(name);
    if (!this.creator) {
      const placeholder = `new:${name}`;
      this.byName.set(name, placeholder);
      return placeholder;
    }
    const org = Object.assign(new Org(), { id: this.plans.get(name) ?? randomUUID(), name, createdAt: new Date() });
    await this.orgs.insert(org, this.em);
    this.remember(org);
    return org.id;
  }
}
