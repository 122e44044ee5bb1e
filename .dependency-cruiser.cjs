/**
 * The architecture, enforced: `npm test` runs `npm run deps`, which fails
 * naming every import that breaks one of these rules.
 *
 * Folders are layers, each importing only the ones below it:
 *
 *   common → core → breaker, resources → cluster → monitor → http → telemetry → cli
 *
 * (`src/index.ts`, the one barrel, may import anything.) Type-only imports
 * count: a type from a layer above is a dependency on it all the same.
 */
const LAYERS = ['common', 'core', 'breaker|resources', 'cluster', 'monitor', 'http', 'telemetry', 'cli'];

/** The folders above layer `i`, as a path pattern. */
const above = (i) => `^src/(${LAYERS.slice(i + 1).join('|')})/`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Modules import each other in a circle: a part of it cannot be loaded, read or tested alone.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `${layer.replace('|', '-')}-imports-only-below`,
      comment: `src/${layer}/ may import only the layers below it (${LAYERS.slice(0, i).join(', ') || 'none'}), never ${LAYERS.slice(i + 1).join(', ')}.`,
      severity: 'error',
      from: { path: `^src/(${layer})/` },
      to: { path: above(i) },
    })),
    {
      name: 'breaker-not-resources',
      comment: 'breaker/ and resources/ are siblings: a breaker never needs the host sampler, and the resource monitor never a breaker.',
      severity: 'error',
      from: { path: '^src/breaker/' },
      to: { path: '^src/resources/' },
    },
    {
      name: 'resources-not-breaker',
      comment: 'breaker/ and resources/ are siblings: a breaker never needs the host sampler, and the resource monitor never a breaker.',
      severity: 'error',
      from: { path: '^src/resources/' },
      to: { path: '^src/breaker/' },
    },
    {
      name: 'only-telemetry-builds-the-sdk',
      comment:
        'Instrumentation code talks to @opentelemetry/api only (the OpenTelemetry convention for libraries); building the SDK, its exporters and host metrics is telemetry/\'s alone.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/telemetry/' },
      to: { path: 'node_modules/@opentelemetry/(sdk-|exporter-|resources|core|context-|instrumentation-)' },
    },
    {
      name: 'only-the-store-talks-to-redis',
      comment: "The Redis client is cluster/store.ts's alone: every command goes through its bound, its key prefix and its masking of the URL.",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cluster/store\\.ts$' },
      to: { path: 'node_modules/@redis/' },
    },
    {
      name: 'cluster-loaded-only-when-asked',
      comment:
        "Without a Redis URL nothing of the cluster is loaded: outside cluster/, only its options (no client) may be imported outright; the rest by a type-only or a dynamic import().",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cluster/' },
      to: { path: '^src/cluster/', pathNot: '^src/cluster/options\\.ts$', dependencyTypesNot: ['type-only', 'dynamic-import'] },
    },
    {
      name: 'no-orphans',
      comment: 'A module nothing imports is dead code (or a barrel someone forgot).',
      severity: 'error',
      from: { orphan: true, path: '^src/', pathNot: '^src/index\\.ts$' },
      to: {},
    },
  ],
  options: {
    // TypeScript 7 has no JavaScript API for dependency-cruiser to parse with; swc reads the sources instead.
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    includeOnly: { path: ['^src/', 'node_modules/@opentelemetry/', 'node_modules/@redis/'] },
    moduleSystems: ['es6'],
    reporterOptions: { text: { highlightFocused: true } },
  },
};
