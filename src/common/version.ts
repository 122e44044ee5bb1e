import pkg from '../../package.json' with { type: 'json' };

/** The instrumentation scope name: the meter and tracer this package creates. */
export const PACKAGE_NAME: string = pkg.name;
/** The package version, also the instrumentation scope version. */
export const PACKAGE_VERSION: string = pkg.version;
