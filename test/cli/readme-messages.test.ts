// README's "Running the command" shows what a bad config file gets: these
// tests keep every such line a message the command really prints.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/cli/config-file.ts';
import { runCli } from './cli-process.ts';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
/** How the command starts the line it prints for a bad config file (src/cli/main.ts). */
const PREFIX = 'conductor-health: bad config file ';

/** The files behind README's examples, in its order; each is refused for its first problem. */
const EXAMPLES: Array<[problem: string, text: string]> = [
  ['a bad URL', 'targets:\n  - { name: web, type: tcp, host: 127.0.0.1, port: 80 }\n  - { name: db, type: tcp, host: 127.0.0.1, port: 5432 }\n  - { name: billing-api, type: http, url: "htp:/x" }\n'],
  ['a misspelt key', 'targets:\n  - { nme: billing-api, type: http, url: "https://billing.internal/health" }\n'],
  ['an unknown type', 'targets:\n  - { name: billing-api, type: htp, url: "https://billing.internal/health" }\n'],
  ['a name given twice', 'targets:\n  - { name: billing-api, type: http, url: "https://billing.internal/health" }\n  - { name: billing-api, type: tcp, host: 127.0.0.1, port: 5432 }\n'],
];

/** The line the command prints for `text` as `targets.yaml`. */
function messageFor(text: string): string {
  try {
    parseConfig(text, 'targets.yaml');
  } catch (error) {
    return `${PREFIX}${(error as Error).message}`;
  }
  return assert.fail(`accepted:\n${text}`);
}

/**
 * What README's "Running the command" section shows as a bad config file's
 * message: each line of a code block, and each inline code span, that names a
 * .yaml file and a path in it — in whatever words, so an outdated one is caught.
 */
async function readmeMessages(): Promise<string[]> {
  const text = await readFile(README, 'utf8');
  const start = text.indexOf('\n## Running the command\n');
  assert.ok(start >= 0, 'README has a "Running the command" section');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].flatMap((m) => m[1]!.split('\n'));
  const spans = [...section.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return [...blocks, ...spans].map((line) => line.trim()).filter((line) => /^(conductor-health: bad config file )?[\w.-]+\.ya?ml: /.test(line));
}

describe('the config messages README shows', () => {
  it('are exactly the ones these files get, in order', async () => {
    assert.deepEqual(await readmeMessages(), EXAMPLES.map(([, text]) => messageFor(text)));
  });

  describe('printed by the command', () => {
    let dir: string;
    before(async () => (dir = await mkdtemp(join(tmpdir(), 'conductor-health-readme-'))));
    after(() => rm(dir, { recursive: true, force: true }));

    it('as README shows them: the line on stderr, exit status 2', async () => {
      const shown = await readmeMessages();
      for (const [i, [problem, text]] of EXAMPLES.entries()) {
        await writeFile(join(dir, 'targets.yaml'), text);
        const result = await runCli(['run', '--config', 'targets.yaml'], {}, { cwd: dir });
        assert.equal(result.code, 2, problem);
        assert.equal(result.stderr, `${shown[i]}\n`, problem);
      }
    });
  });
});
