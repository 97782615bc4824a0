/**
 * A small SQL tokenizer: enough structure (strings, quoted identifiers, comments, words,
 * numbers, punctuation) for the Exasol → PostgreSQL translation to work on tokens instead of
 * raw text, so that string literals and quoted names are never rewritten by accident.
 */

export type TokenKind = 'space' | 'comment' | 'string' | 'quoted' | 'word' | 'number' | 'punct';

export interface Token {
  kind: TokenKind;
  text: string;
  /** Upper-cased text for words, the unescaped value for strings and quoted identifiers. */
  value: string;
  /** Offset in the original statement (for Exasol-style error positions). */
  offset: number;
}

const PUNCTUATION = [
  '||',
  '<=',
  '>=',
  '<>',
  '!=',
  '::',
  '(',
  ')',
  ',',
  '.',
  ';',
  '+',
  '-',
  '*',
  '/',
  '=',
  '<',
  '>',
  '?',
  '%',
  '[',
  ']',
  ':',
];

/** Splits SQL into tokens. Throws a `SyntaxError` on unterminated literals. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const start = i;
    const ch = sql[i];
    if (/\s/.test(ch)) {
      while (i < sql.length && /\s/.test(sql[i])) i++;
      tokens.push({ kind: 'space', text: sql.slice(start, i), value: ' ', offset: start });
    } else if (ch === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
      tokens.push({ kind: 'comment', text: sql.slice(start, i), value: '', offset: start });
    } else if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new SyntaxError('unterminated comment');
      i = end + 2;
      tokens.push({ kind: 'comment', text: sql.slice(start, i), value: '', offset: start });
    } else if (ch === "'" || ch === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= sql.length) throw new SyntaxError(ch === "'" ? 'unterminated string literal' : 'unterminated quoted identifier');
        if (sql[i] === ch) {
          if (sql[i + 1] === ch) {
            value += ch;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += sql[i++];
      }
      tokens.push({ kind: ch === "'" ? 'string' : 'quoted', text: sql.slice(start, i), value, offset: start });
    } else if (/[A-Za-z_]/.test(ch)) {
      while (i < sql.length && /[A-Za-z0-9_$#]/.test(sql[i])) i++;
      const text = sql.slice(start, i);
      tokens.push({ kind: 'word', text, value: text.toUpperCase(), offset: start });
    } else if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      while (i < sql.length && /[0-9.]/.test(sql[i])) i++;
      if (/[eE]/.test(sql[i] ?? '') && /[-+0-9]/.test(sql[i + 1] ?? '')) {
        i += 2;
        while (i < sql.length && /[0-9]/.test(sql[i])) i++;
      }
      const text = sql.slice(start, i);
      tokens.push({ kind: 'number', text, value: text, offset: start });
    } else {
      const op = PUNCTUATION.find((p) => sql.startsWith(p, i)) ?? ch;
      i += op.length;
      tokens.push({ kind: 'punct', text: op, value: op, offset: start });
    }
  }
  return tokens;
}

/** Tokens without whitespace and comments. */
export function significant(tokens: Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'space' && t.kind !== 'comment');
}

/** Quotes a name as a PostgreSQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a string as a SQL literal. */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Joins tokens back to text (using each token's original text). */
export function joinTokens(tokens: Token[]): string {
  return tokens.map((t) => t.text).join('');
}

/** Index of the parenthesis closing the one at `open` (in a significant-token list), or -1. */
export function matchingParen(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i].kind !== 'punct') continue;
    if (tokens[i].text === '(') depth++;
    else if (tokens[i].text === ')' && --depth === 0) return i;
  }
  return -1;
}

/** The (upper-cased) value of the word token at `index`, or undefined when it is not a word. */
export function wordAt(tokens: Token[], index: number): string | undefined {
  const token = tokens[index];
  return token?.kind === 'word' ? token.value : undefined;
}
