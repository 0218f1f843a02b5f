import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Roles } from '../auth/auth.decorators';
import { MetricsService } from './metrics.service';

/**
 * Prometheus metrics for an admin token: a scrape config sends it as `authorization` (bearer). A
 * token rather than a separate port: one port to expose and firewall, and the same revocation and
 * audit of denials as every route. Nothing in it names a key, a value, a token or an id.
 */
@ApiTags('Metrics')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Roles('admin')
  @ApiOperation({
    summary: 'Prometheus metrics (admin)',
    description: 'Requests by route pattern and status with latency histograms, audit entries by action and outcome, audit batch sizes and queue depth, matcher builds, database pool use, process metrics.',
  })
  @ApiOkResponse({ description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } })
  async scrape(@Res() reply: FastifyReply): Promise<void> {
    const text = await this.metrics.text();
    void reply.header('Content-Type', this.metrics.registry.contentType).header('Cache-Control', 'no-store').send(text);
  }
}
