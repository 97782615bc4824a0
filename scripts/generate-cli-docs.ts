import { writeFileSync } from 'node:fs';
import { renderCliReference } from '../src/cli/reference.js';

writeFileSync(new URL('../docs/cli.md', import.meta.url), await renderCliReference());
console.log('wrote docs/cli.md');
