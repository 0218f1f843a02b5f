import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { isUniqueViolation } from '../common/database';
import { conflict, notFound } from '../common/errors';
import { Org } from './org.entity';
import { confusableWith, normalizeOrgName } from './org-names';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

@Injectable()
export class OrgsService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private get repo() {
    return this.dataSource.getRepository(Org);
  }

  async create(requested: string): Promise<Org> {
    const name = normalizeOrgName(requested);
    // Checked against every name (orgs are few); two admins racing two look-alikes can both win.
    const names = (await this.repo.find({ select: { name: true } })).map((o) => o.name);
    if (confusableWith(name, names) !== null) {
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

  list(onlyId?: string | null): Promise<Org[]> {
    if (onlyId === null) return Promise.resolve([]);
    return this.repo.find({ where: onlyId ? { id: onlyId } : {}, order: { name: 'ASC' } });
  }

  async find(id: string): Promise<Org | null> {
    if (!UUID.test(id)) return null;
    return this.repo.findOne({ where: { id } });
  }

  async findByName(name: string): Promise<Org | null> {
    return this.repo.findOne({ where: { name: normalizeOrgName(name) } });
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
