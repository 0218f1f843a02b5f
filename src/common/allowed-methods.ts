import type { FastifyInstance } from 'fastify';

/**
 * The methods each route path serves, so that a request for a path the service serves with a method
 * it does not serve is answered 405 with `Allow` (RFC 9110), not 404. Fed by Fastify's `onRoute`
 * hook, which must be added before Nest registers its routes (at `app.init()`).
 */
interface RoutePattern {
  pattern: RegExp;
  methods: Set<string>;
}

const tables = new WeakMap<FastifyInstance, Map<string, RoutePattern>>();

/** `/api/scopes/:scope/configs/:key` → a regex matching one path segment per parameter. */
function compile(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

export function registerRouteTable(fastify: FastifyInstance): void {
  const table = new Map<string, RoutePattern>();
  tables.set(fastify, table);
  fastify.addHook('onRoute', (route) => {
    if (route.url.includes('*')) return; // static-file catch-alls (Swagger UI's assets) serve GET only
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const entry = table.get(route.url) ?? { pattern: compile(route.url), methods: new Set<string>() };
    for (const m of methods) entry.methods.add(m.toUpperCase());
    if (entry.methods.has('GET')) entry.methods.add('HEAD');
    table.set(route.url, entry);
  });
}

/** The methods served at `path` (no query string), sorted; empty when no route has this path. */
export function allowedMethods(fastify: FastifyInstance, path: string): string[] {
  const table = tables.get(fastify);
  if (!table) return [];
  const out = new Set<string>();
  for (const { pattern, methods } of table.values()) if (pattern.test(path)) for (const m of methods) out.add(m);
  return [...out].sort();
}
