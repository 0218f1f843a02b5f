import { Global, Logger, Module, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AllExceptionsFilter, ErrorBody } from '../common/all-exceptions.filter';
import { JsonLogger } from '../common/logger';
import { ScrubbingInterceptor } from './scrubbing.interceptor';
import { ScrubbableRequest, SecretRegistry } from './secret-registry';

/**
 * The secret registry, the global response interceptor, and the hooks that put error bodies
 * (AllExceptionsFilter) and the service's own log lines (JsonLogger) through the same scrubber.
 */
@Global()
@Module({
  providers: [SecretRegistry, ScrubbingInterceptor, { provide: APP_INTERCEPTOR, useExisting: ScrubbingInterceptor }],
  exports: [SecretRegistry],
})
export class ScrubberModule implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Scrubber');

  constructor(private readonly registry: SecretRegistry) {}

  /**
   * Error bodies never pass through interceptors when a guard throws. They are built by the service
   * itself (never echoing a submitted value), so when the registry can't be read (the database is
   * down) they are scrubbed with every secret this instance knows rather than replaced.
   */
  private readonly scrubErrorBody = async (req: ScrubbableRequest, body: ErrorBody): Promise<ErrorBody> => {
    let scrubber;
    try {
      scrubber = await this.registry.forRequest(req);
    } catch {
      scrubber = this.registry.allKnown();
    }
    return scrubber.scrubDeep(body);
  };

  onModuleInit(): void {
    JsonLogger.addFilter(this.registry.scrubLogLine);
    AllExceptionsFilter.addBodyScrubber(this.scrubErrorBody);
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.registry.warm();
    } catch (err) {
      this.logger.warn({ msg: 'could not load the secrets at start-up; they are loaded on the first request', errorName: (err as Error)?.name });
    }
  }

  onModuleDestroy(): void {
    JsonLogger.removeFilter(this.registry.scrubLogLine);
    AllExceptionsFilter.removeBodyScrubber(this.scrubErrorBody);
  }
}
