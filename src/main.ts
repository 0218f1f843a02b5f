import 'reflect-metadata';
import { EnvError, loadEnv } from './common/env';
import { JsonLogger } from './common/logger';
import { sweepTempDirs } from './common/temp-dir';
import { createApp, shutdown } from './bootstrap';

async function main(): Promise<void> {
  let env;
  try {
    env = loadEnv();
  } catch (err) {
    if (err instanceof EnvError) {
      process.stderr.write(`Configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Before the application exists: its own logger (scrubbed) takes over in createApp.
  const early = new JsonLogger(env.logLevel, undefined, { format: env.logFormat });
  if (env.secretKeyGenerated) {
    early.warn(`BIFROST_SECRET_KEY is not set: using a development key kept in ${env.database.sqlitePath ? 'the data folder' : './data/'}. Set BIFROST_SECRET_KEY before storing anything real.`, 'Bootstrap');
  }
  // Temp folders (import spools, duplicate checks) of processes of this service killed on this machine.
  const swept = await sweepTempDirs();
  if (swept.removed.length > 0) early.log(`removed ${swept.removed.length} temp folder(s) left by stopped bifrost-config processes`, 'Bootstrap');
  const app = await createApp(env);
  const logger = app.get(JsonLogger);
  await app.listen(env.port, '0.0.0.0');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.log(`${signal}: finishing in-flight requests, then closing`, 'Bootstrap');
      const force = setTimeout(() => process.exit(1), 25_000);
      force.unref();
      shutdown(app).then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`Shutdown failed: ${err.message}\n`);
          process.exit(1);
        },
      );
    });
  }
  logger.log(`Listening on port ${env.port}; Swagger UI at http://localhost:${env.port}/docs (${env.database.kind})`, 'Bootstrap');
}

main().catch((err) => {
  // One line, no stack: start-up errors (a database that can't be reached, keys that decrypt nothing) speak for themselves.
  process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
