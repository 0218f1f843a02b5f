import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isUniqueViolation } from '../common/database';
import { conflict, notFound } from '../common/errors';
import { parseLimit, textCursor } from '../common/paging';
import { isUuid } from '../common/params';
import { Org } from './org.entity';
import { confusableWith, normalizeOrgName } from './org-names';
import { OrgsRepository } from './orgs.repository';

/** The orgs list's cursor: the last name of the page (names are 1-100 characters). */
const NAME_CURSOR = textCursor('n', (name) => name.length > 0 && name.length <= 100);

@Injectable()
export class OrgsService {
  constructor(private readonly repo: OrgsRepository) {}

  async create(requested: string): Promise<Org> {
    const name = normalizeOrgName(requested);
    // Checked against every name (orgs are few); two admins racing two look-alikes can both win.
    if (confusableWith(name, await this.repo.allNames()) !== null) {
      throw conflict('ORG_NAME_CONFUSABLE', 'An org whose name looks the same exists already; choose a name that reads differently');
    }
    const org = Object.assign(new Org(), { id: randomUUID(), name, createdAt: new Date() });
    try {
      await this.repo.insert(org);
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('ORG_EXISTS', 'An org with this name exists already');
      throw err;
    }
    return org;
  }

  /** A page of orgs by name (`onlyId`: that org alone; null: none), and the cursor of the next one. */
  async list(onlyId: string | null | undefined, page: { limit?: string; cursor?: string } = {}): Promise<{ items: Org[]; nextCursor: string | null }> {
    const limit = parseLimit(page.limit);
    const after = NAME_CURSOR.decode(page.cursor);
    if (onlyId === null) return { items: [], nextCursor: null };
    const rows = await this.repo.page(onlyId, after, limit + 1);
    const more = rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    return { items, nextCursor: more ? NAME_CURSOR.encode(items[items.length - 1].name) : null };
  }

  async find(id: string): Promise<Org | null> {
    if (!isUuid(id)) return null;
    return this.repo.byId(id);
  }

  async findByName(name: string): Promise<Org | null> {
    return this.repo.byName(normalizeOrgName(name));
  }

  /** An org by id or, failing that, by exact name (X-Bifrost-Org accepts either). */
  async findByIdOrName(ref: string): Promise<Org | null> {
    return (await this.find(ref)) ?? (await this.findByName(ref));
  }

  async getOrThrow(id: string): Promise<Org> {
    const org = await this.find(id);
    if (!org) throw notFound('ORG_NOT_FOUND', 'No such org');
    return org;
  }
}
