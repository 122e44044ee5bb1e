// README says what the code does: the tables a reader relies on are checked against the code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/common/errors.ts';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

describe("README's error codes", () => {
  it('lists every code the package throws, and no other', async () => {
    const readme = await readFile(README, 'utf8');
    const table = readme.slice(readme.indexOf('| code | class | when |'), readme.indexOf('\n\n', readme.indexOf('| code | class | when |')));
    const listed = [...table.matchAll(/`(E[A-Z]+)`/g)].map((m) => m[1]).sort();
    assert.deepEqual(listed, Object.keys(ERROR_CODES).sort());
  });
});
