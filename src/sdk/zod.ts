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

// Named re-exports, not `export *`: the CommonJS build evaluates an `export *` of an external
// module before requiring it.
export {
  _default,
  array,
  boolean,
  core,
  custom,
  enum,
  extend,
  gte,
  instanceof,
  int,
  lazy,
  literal,
  lte,
  maxLength,
  minLength,
  nonnegative,
  null,
  nullable,
  number,
  object,
  optional,
  positive,
  record,
  refine,
  regex,
  safeParse,
  strictObject,
  string,
  superRefine,
  tuple,
  union,
  unknown,
} from 'zod/mini';
export type { input, output, ZodMiniType } from 'zod/mini';
