import { Global, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigsDataModule } from '../configs/configs-data.module';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { ERROR_BODY_SCRUBBER, ErrorBody, ErrorBodyScrubber } from '../common/all-exceptions.filter';
import { LineFilter, LOG_LINE_FILTER } from '../common/logger';
import { ScrubbingInterceptor } from './scrubbing.interceptor';
import { ScrubbableRequest, SecretRegistry } from './secret-registry';

/**
 * Error bodies never pass through interceptors when a guard throws. They are built by the service
 * itself (never echoing a submitted value), so when the registry can't be read (the database is
 * down) they are scrubbed with every secret this instance knows rather than replaced.
 */
export function errorBodyScrubber(registry: SecretRegistry): ErrorBodyScrubber {
  return async (req: ScrubbableRequest, body: ErrorBody): Promise<ErrorBody> => {
    let scrubber;
    try {
      scrubber = await registry.forRequest(req);
    } catch {
      scrubber = registry.allKnown();
    }
    return scrubber.scrubDeep(body);
  };
}

/**
 * The secret registry, the global response interceptor, and the scrubbers it provides to the
 * exception filter (ERROR_BODY_SCRUBBER) and the logger (LOG_LINE_FILTER).
 */
@Global()
@Module({
  imports: [ConfigsDataModule],
  providers: [
    SecretRegistry,
    ScrubbingInterceptor,
    { provide: APP_INTERCEPTOR, useExisting: ScrubbingInterceptor },
    { provide: ERROR_BODY_SCRUBBER, useFactory: errorBodyScrubber, inject: [SecretRegistry] },
    { provide: LOG_LINE_FILTER, useFactory: (registry: SecretRegistry): LineFilter => registry.scrubLogLine, inject: [SecretRegistry] },
  ],
  exports: [SecretRegistry, ERROR_BODY_SCRUBBER, LOG_LINE_FILTER],
})
export class ScrubberModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('Scrubber');

  constructor(private readonly registry: SecretRegistry) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.registry.warm();
    } catch (err) {
      this.logger.warn({ msg: 'could not load the secrets at start-up; they are loaded on the first request', errorName: (err as Error)?.name });
    }
  }
}
