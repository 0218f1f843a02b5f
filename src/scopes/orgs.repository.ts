import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { RunSql } from '../common/database';
import { Org } from './org.entity';

export type OrgRef = Pick<Org, 'id' | 'name'>;

/** Every statement on the `orgs` table; `em` is the caller's transaction where one is given. */
@Injectable()
export class OrgsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private rows(em?: EntityManager | null) {
    return (em ?? this.dataSource.manager).getRepository(Org);
  }

  /** Every org's name (orgs are few). */
  async allNames(em?: EntityManager | null): Promise<string[]> {
    return (await this.rows(em).find({ select: { name: true } })).map((o) => o.name);
  }

  async insert(org: Org, em?: EntityManager | null): Promise<void> {
    await this.rows(em).insert(org);
  }

  /** Up to `limit` orgs by name after `after` (`onlyId`: that org alone). */
  page(onlyId: string | undefined, after: string | undefined, limit: number): Promise<Org[]> {
    const qb = this.rows().createQueryBuilder('o');
    if (onlyId) qb.andWhere('o.id = :onlyId', { onlyId });
    if (after !== undefined) qb.andWhere('o.name > :after', { after });
    return qb.orderBy('o.name', 'ASC').limit(limit).getMany();
  }

  byId(id: string): Promise<Org | null> {
    return this.rows().findOne({ where: { id } });
  }

  exists(id: string): Promise<boolean> {
    return this.rows().exists({ where: { id } });
  }

  /** By its stored (NFC) name. */
  byName(name: string): Promise<Org | null> {
    return this.rows().findOne({ where: { name } });
  }

  /** The orgs among `ids`, id and name only. */
  withIds(ids: string[], em?: EntityManager | null): Promise<OrgRef[]> {
    return this.rows(em).createQueryBuilder('o').select(['o.id', 'o.name']).where('o.id IN (:...ids)', { ids }).getMany();
  }

  /** The orgs among `names` (stored, NFC), id and name only. */
  withNames(names: string[], em?: EntityManager | null): Promise<OrgRef[]> {
    return this.rows(em).createQueryBuilder('o').select(['o.id', 'o.name']).where('o.name IN (:...names)', { names }).getMany();
  }

  /** Ids and names of every org, or of `id` alone, read where an export reads (its snapshot). */
  refsIn(run: RunSql, id: string | null): Promise<OrgRef[]> {
    return id === null ? run<OrgRef>('SELECT id, name FROM orgs', []) : run<OrgRef>('SELECT id, name FROM orgs WHERE id = ?', [id]);
  }
}
