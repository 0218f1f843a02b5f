import helmet from 'helmet';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { GlobalAuthGuard } from './auth/auth.guard';
import { registerEarlyAuthentication } from './auth/early-authentication';
import { replyToFrameworkError } from './common/all-exceptions.filter';
import { registerRouteTable } from './common/allowed-methods';
import { replyToClientError } from './common/client-error';
import { AppEnv } from './common/env';
import { JSON_BODY_LIMIT, registerJsonBody } from './common/json-body';
import { JsonLogger } from './common/logger';
import { finalizeDocument } from './common/openapi';
import { registerRequestContext, RequestWithContext } from './common/request-context';
import { MetricsService } from './metrics/metrics.service';

const draining = new WeakSet<object>();
const documents = new WeakMap<object, OpenAPIObject>();

/** The OpenAPI document the app serves at `/docs-json` (for tests that check answers against it). */
export function openApiDocumentOf(app: NestFastifyApplication): OpenAPIObject | undefined {
  return documents.get(app);
}

/**
 * Graceful shutdown, in this order: stop accepting, let in-flight requests finish (each answered
 * with `Connection: close`, so keep-alive clients let go) and drop idle connections; then Nest's
 * shutdown (queued audit entries, then the database pool). Nest's own signal hooks would close the
 * pool first, under requests still running.
 */
export async function shutdown(app: NestFastifyApplication): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  draining.add(fastify);
  await fastify.close();
  await app.close();
}

export interface CreateAppOptions {
  /** Where the logger writes its lines (stdout when absent; tests collect them). */
  logWrite?: (line: string) => void;
}

/**
 * Builds the configured application (routes, pipes, Swagger, security headers) without listening.
 * Fastify, not Express: it serves an authenticated read with less CPU (README, "Why Fastify").
 */
export async function createApp(env: AppEnv, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: JSON_BODY_LIMIT,
    // TRUST_PROXY: only these proxies' X-Forwarded-For sets request.ip (the throttle's and the audit
    // log's client address); from any other peer the header is ignored.
    trustProxy: env.trustProxy.length > 0 ? env.trustProxy : false,
    // A client sends its whole request (headers and body) within this time, or gets 408 and the
    // connection is closed: a trickled body cannot hold a connection and its memory for minutes.
    requestTimeout: env.requestTimeoutMs,
    // Node checks request timeouts on an interval (30 s by default): check often enough to keep it.
    http: { connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(env.requestTimeoutMs / 4))) },
    return503OnClosing: true,
    // A config key may be 255 characters (API.md); Fastify's default limit of 100 answered longer
    // valid keys with a 414. Room for a percent-encoded bad key too, so it gets its INVALID_KEY.
    routerOptions: { maxParamLength: 1024 },
    frameworkErrors: replyToFrameworkError,
    // Node's HTTP parser errors (bare CR/LF, two Content-Lengths, over-long headers): the one error shape too.
    clientErrorHandler: replyToClientError,
  });
  // The start logs through this one as it goes (a database being retried says so at once, not
  // after the last retry); the application's logger (a provider, scrubbed) takes over once it exists.
  const bootLogger = new JsonLogger(env.logLevel, options.logWrite, { format: env.logFormat });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(env, options.logWrite), adapter, {
    logger: bootLogger,
    bodyParser: false,
    abortOnError: false,
  });
  const logger = app.get(JsonLogger);
  app.useLogger(logger);
  const fastify = app.getHttpAdapter().getInstance();
  // Headers come first and are small: a client that trickles them is cut off sooner.
  fastify.server.headersTimeout = Math.min(env.requestTimeoutMs, 15_000);
  registerRouteTable(fastify);
  registerRequestContext(fastify);
  registerEarlyAuthentication(fastify, app.get(GlobalAuthGuard));
  registerJsonBody(fastify);
  fastify.addHook('onSend', async (req, reply, payload) => {
    if (draining.has(fastify)) reply.header('Connection', 'close');
    // Nothing the API answers may be kept by a browser or a proxy: the SDK read carries plaintext,
    // token creation a new token, every other answer org data.
    if (req.url.startsWith('/api')) reply.header('Cache-Control', 'no-store');
    // RFC 6750: a 401 names the scheme it wants; `invalid_token` when a token was sent and refused.
    if (reply.statusCode === 401) {
      reply.header('WWW-Authenticate', req.headers.authorization ? 'Bearer realm="bifrost", error="invalid_token"' : 'Bearer realm="bifrost"');
    }
    return payload;
  });
  const metrics = app.get(MetricsService);
  // One line per request: method, route pattern (never the path's values or the query), status,
  // duration, request id, principal; 5xx at error. Never a body, a token or a header's value.
  fastify.addHook('onResponse', (req, reply, done) => {
    const ctx = (req as RequestWithContext).context;
    const line = {
      msg: 'request',
      method: req.method,
      route: req.routeOptions?.url ?? null,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
      requestId: ctx?.requestId,
      traceId: ctx?.traceId,
      principalId: ctx?.principal?.id ?? null,
      role: ctx?.principal?.role ?? null,
    };
    if (reply.statusCode >= 500) logger.error(line, 'Request');
    else logger.log(line, 'Request');
    metrics.request(req.method, line.route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  // Swagger UI needs its own inline styles and data: images; everything else stays at helmet's defaults,
  // but for the HTTPS-only headers: sent over plain HTTP, `upgrade-insecure-requests` rewrites every
  // asset of /docs to https and leaves the page blank on any host but localhost. They are sent only
  // when the operator says the service is reached over HTTPS only (HTTPS_ONLY).
  // Built once and applied to every response: building helmet (and parsing its CSP) per request costs every read.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        'img-src': ["'self'", 'data:'],
        'style-src': ["'self'", "'unsafe-inline'"],
        'upgrade-insecure-requests': env.httpsOnly ? [] : null,
      },
    },
    strictTransportSecurity: env.httpsOnly ? { maxAge: 31536000, includeSubDomains: true } : false,
  });
  fastify.addHook('onRequest', (req, reply, done) => securityHeaders(req.raw, reply.raw, (err) => done(err as Error | undefined)));
  if (env.corsOrigins.length > 0) {
    app.enableCors({ origin: env.corsOrigins, allowedHeaders: ['Authorization', 'Content-Type', 'X-Bifrost-Org', 'X-Bifrost-Execution', 'X-Request-Id'] });
  }

  const document = finalizeDocument(SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Bifrost config & secrets service')
      .setDescription(
        'Typed configs and Fernet-encrypted secrets for the Bifrost workflow platform. Secrets are shown as `••••••` everywhere; ' +
          'only the SDK read returns one, to a service token. Every error is `{statusCode, error, code, message, details?}` (`ErrorDto`), ' +
          'with a stable upper-snake `code`. Any request may also be refused before it reaches an operation: 405 `METHOD_NOT_ALLOWED` ' +
          '(with `Allow`) for a method the path does not serve, 408 `REQUEST_TIMEOUT`, 414 `URI_TOO_LONG`, 431 `HEADERS_TOO_LARGE`. ' +
          'Every answer passes the scrubber: wherever a registered secret (of at least 4 characters) occurs in an answer, in any string ' +
          'or member name, it reads `[REDACTED]`, whatever the schema says there; the schemas describe answers before that.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque', description: 'An API token (`bft_...`): opaque, not a JWT' })
      .addServer('/', 'This service, where the document is served')
      .build(),
  ));
  documents.set(app, document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', swaggerOptions: { persistAuthorization: false } });
  return app;
}

export type { INestApplication };
