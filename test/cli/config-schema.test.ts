// The JSON Schema shipped for editors (schema/config.schema.json): generated from the
// config file's zod schema, kept up to date, and checked by a real JSON Schema validator
// (ajv) against every example config, so what README tells editors to use is true.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { configJsonSchema } from '../../src/cli/config-schema.ts';
import { parseConfig } from '../../src/cli/config-file.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCHEMA_FILE = join(ROOT, 'schema', 'config.schema.json');
const EXAMPLES = join(ROOT, 'examples');

async function shippedSchema(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
}

async function validator() {
  return new Ajv({ strict: true, allErrors: true }).compile(await shippedSchema());
}

async function exampleFiles(): Promise<string[]> {
  const names = (await readdir(EXAMPLES)).filter((n) => /\.(ya?ml|json)$/.test(n));
  assert.ok(names.length > 0, 'examples/ holds config files');
  return names.map((n) => join(EXAMPLES, n));
}

describe('the config file JSON Schema', () => {
  it('is what npm run schema generates from the zod schema (run it after changing an option)', async () => {
    assert.deepEqual(await shippedSchema(), configJsonSchema());
  });

  it('is shipped in the package', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('schema'), `package.json files: ${pkg.files.join(', ')}`);
  });

  it('accepts every file in examples/, which the command accepts too', async () => {
    const validate = await validator();
    for (const file of await exampleFiles()) {
      const text = await readFile(file, 'utf8');
      assert.ok(validate(parse(text)), `${file}: ${JSON.stringify(validate.errors)}`);
      parseConfig(text, file);
    }
  });

  it('is named by every example for editors, by a path that leads to it', async () => {
    for (const file of await exampleFiles()) {
      const match = /^# yaml-language-server: \$schema=(\S+)$/m.exec(await readFile(file, 'utf8'));
      assert.ok(match, `${file} has a yaml-language-server $schema line`);
      assert.equal(resolve(dirname(file), match[1]!), SCHEMA_FILE, file);
    }
  });

  it('rejects what the command rejects: a value out of range, an unknown key, a target of no known type, no targets', async () => {
    const validate = await validator();
    const [file] = await exampleFiles();
    const base = parse(await readFile(file!, 'utf8')) as { breaker?: object; targets: Array<Record<string, unknown>> };
    const bad: Array<[string, unknown]> = [
      ['breaker.failMax 0', { ...base, breaker: { failMax: 0 } }],
      ['breaker.halfOpenTimeoutMs 0', { ...base, breaker: { halfOpenTimeoutMs: 0 } }],
      ['monitor.maxConcurrent 1.5', { ...base, monitor: { maxConcurrent: 1.5 } }],
      ['an unknown top-level key', { ...base, bogus: 1 }],
      ['an unknown target key', { ...base, targets: [{ ...base.targets[0], timeout: 5 }] }],
      ['a udp target', { ...base, targets: [{ ...base.targets[0], type: 'udp' }] }],
      ['a tcp target without a port', { ...base, targets: [{ name: 'db', type: 'tcp', host: 'h' }] }],
      ['an ftp URL', { ...base, targets: [{ name: 'f', type: 'http', url: 'ftp://host/' }] }],
      ['no targets', { ...base, targets: [] }],
    ];
    for (const [what, config] of bad) {
      assert.equal(validate(config), false, `${what} is accepted by the JSON Schema`);
      assert.throws(() => parseConfig(JSON.stringify(config), 'c.json'), { name: 'ConfigFileError' }, `${what} is accepted by the command`);
    }
  });
});
