import { defineCommand } from '../command';

export const migrateCommand = defineCommand({
  name: 'migrate',
  summary: 'Bring the database schema up to date (the one command that may create the database and a development key).',
  options: [],
  details: 'With --json: {"applied": [the migrations it ran]}.',
  services: false,
  createsDatabase: true,
  parse: () => ({}),
  async run(_cmd, c) {
    const { migrate } = await import('../cli-context');
    const ran = await migrate(c.env);
    c.say(ran.length ? `applied ${ran.length} migration(s): ${ran.join(', ')}` : 'the schema is up to date');
    if (c.json) c.result({ applied: ran });
  },
});
