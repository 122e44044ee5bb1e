// The shell a newcomer types into: what `npm test` adds to the environment left out.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where the `node` devDependency's Node 24 is, which npm puts first on PATH for its scripts. */
export const BIN = join(ROOT, 'node_modules', '.bin');

/**
 * The environment without the npm_* variables `npm test` runs under (they name this project's
 * prefix and config), without OTEL_* (an endpoint would send spans somewhere), and with PATH
 * without this project's node_modules/.bin: `node` and `npm` are the system's.
 */
export const SHELL: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|OTEL_)/i.test(name) && name !== 'NODE')),
  PATH: (process.env.PATH ?? '').split(':').filter((entry) => entry !== '' && resolve(entry) !== BIN).join(':'),
};
