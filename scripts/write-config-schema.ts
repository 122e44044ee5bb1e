// Writes schema/config.schema.json from the config file's zod schema (src/cli/config-schema.ts).
// Run after changing an option: `npm run schema`; test/cli/config-schema.test.ts fails while it is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '../src/cli/config-schema.ts';

const file = fileURLToPath(new URL('../schema/config.schema.json', import.meta.url));
writeFileSync(file, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote ${file}`);
