/**
 * The zod every refstream module validates with: `zod/mini`, the tree-shakable build of zod 4
 * (functions instead of methods), with English messages. The full `zod` build would add about
 * 750 KB of JavaScript to every command's start-up; schemas written with either build are
 * accepted wherever refstream takes one (both share zod's core). Import it as a namespace
 * (`import * as z`) so the bundler keeps only what is used.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
