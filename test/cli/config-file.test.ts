// What the command reads as a config file: only a regular file, only up to a
// size, and never more targets than the telemetry is sized for.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_FILE_DEFAULTS } from '../../src/cli/config-schema.ts';
import { ConfigFileError, loadConfigFile, parseConfig } from '../../src/cli/config-file.ts';

const target = (i: number) => `  - { name: t${i}, type: tcp, host: 127.0.0.1, port: 1 }`;
const withTargets = (n: number, head = '') => `${head}targets:\n${Array.from({ length: n }, (_, i) => target(i)).join('\n')}\n`;

describe('loadConfigFile', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'conductor-health-config-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('refuses a device such as /dev/zero without reading it, naming the file', async () => {
    await assert.rejects(loadConfigFile('/dev/zero'), (error: unknown) => {
      assert.ok(error instanceof ConfigFileError);
      assert.match(error.message, /^\/dev\/zero: is not a regular file \(a character device\)$/);
      return true;
    });
  });

  it('refuses a named pipe without waiting for a writer, and a directory', async () => {
    const fifo = join(dir, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(loadConfigFile(fifo), { name: 'ConfigFileError', message: /pipe\.yaml: is not a regular file \(a named pipe\)/ });
    await assert.rejects(loadConfigFile(dir), { name: 'ConfigFileError', message: /is not a regular file \(a directory\)/ });
  });

  it(`refuses a file over ${CONFIG_FILE_DEFAULTS.maxBytes} bytes, quoting its size and the bound`, async () => {
    const file = join(dir, 'big.yaml');
    const text = `# ${'x'.repeat(CONFIG_FILE_DEFAULTS.maxBytes)}\n${withTargets(1)}`;
    await writeFile(file, text);
    await assert.rejects(loadConfigFile(file), {
      name: 'ConfigFileError',
      message: new RegExp(`big\\.yaml: is ${Buffer.byteLength(text)} bytes, more than the ${CONFIG_FILE_DEFAULTS.maxBytes} a config file may have`),
    });
    await assert.rejects(loadConfigFile(file, { maxBytes: 10 }), { message: /more than the 10 a config file may have/ });
  });

  it('reads a regular file within the bound', async () => {
    const file = join(dir, 'ok.yaml');
    await writeFile(file, withTargets(2));
    assert.equal((await loadConfigFile(file)).targets.length, 2);
  });
});

describe('targets and telemetry.maxPlatforms', () => {
  it(`refuses more targets than telemetry.maxPlatforms (default ${CONFIG_FILE_DEFAULTS.maxPlatforms}), naming the option`, () => {
    assert.throws(() => parseConfig(withTargets(3, 'telemetry: { maxPlatforms: 2 }\n'), 'c.yaml'), {
      name: 'ConfigFileError',
      message: 'c.yaml: targets: 3 targets are more than telemetry.maxPlatforms (2), which sizes the metrics; raise telemetry.maxPlatforms',
    });
    assert.throws(() => parseConfig(withTargets(CONFIG_FILE_DEFAULTS.maxPlatforms + 1), 'c.yaml'), {
      message: new RegExp(`${CONFIG_FILE_DEFAULTS.maxPlatforms + 1} targets are more than telemetry\\.maxPlatforms \\(${CONFIG_FILE_DEFAULTS.maxPlatforms}\\)`),
    });
  });

  it('accepts exactly maxPlatforms targets and passes the option on', () => {
    const config = parseConfig(withTargets(2, 'telemetry: { maxPlatforms: 2 }\n'), 'c.yaml');
    assert.equal(config.targets.length, 2);
    assert.equal(config.telemetry.maxPlatforms, 2);
  });
});

describe('what a config error shows of a target', () => {
  it('masks the password of a URL it quotes', () => {
    const text = 'targets:\n  - { name: a, type: http, url: "ftp://user:hunter2@host/" }\n';
    assert.throws(() => parseConfig(text, 'bad.yaml'), (error: Error) => {
      assert.equal(error.message, 'bad.yaml: targets[0].url: must be an http: or https: URL, got "ftp://user:***@host/"');
      return true;
    });
  });

  it('refuses a name with a lone surrogate, quoting it escaped', () => {
    const text = 'targets:\n  - { name: "a\\ud800", type: tcp, host: h, port: 1 }\n';
    assert.throws(() => parseConfig(text, 'bad.yaml'), (error: Error) => {
      assert.equal(error.message, 'bad.yaml: targets[0].name: must be well-formed Unicode (no lone surrogates), got "a\\ud800"');
      return true;
    });
  });

  it('names a typo as the unknown key it is, with the key it meant, rather than the field it left missing', () => {
    assert.throws(() => parseConfig('targets:\n  - { nme: a, type: tcp, host: 127.0.0.1, port: 1 }\n', 'c.yaml'), {
      code: 'ECONFIGFILE',
      message: 'c.yaml: targets[0].nme: unknown key; did you mean "name"?',
    });
    assert.throws(() => parseConfig('monitr: {}\ntargets:\n  - { name: a, type: tcp, host: h, port: 1 }\n', 'c.yaml'), { message: 'c.yaml: monitr: unknown key; did you mean "monitor"?' });
    assert.throws(() => parseConfig('targets:\n  - { name: a, type: http, url: "http://x/", expectStatus: 200-2999 }\n', 'c.yaml'), {
      message: 'c.yaml: targets[0].expectStatus: must be a status code or a range like "200-399", got "200-2999"',
    });
  });

  it('takes maxBodyBytes for an http target', () => {
    const config = parseConfig('targets:\n  - { name: a, type: http, url: "http://h/", bodyMatch: ok, maxBodyBytes: 1024 }\n', 'ok.yaml');
    assert.equal((config.targets[0] as { maxBodyBytes?: number }).maxBodyBytes, 1024);
  });
});
