// slipway.yml -> validated Config. Every error carries file:line:column, because a message
// without a place sends the user hunting through a file the server only half-explains.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isAlias, isCollection, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Alias, Document, Node } from 'yaml';
import { z } from 'zod';
import { describeError } from '../core/errors.ts';
import { Config } from './model.ts';

export interface ConfigError {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  message: string;
}

export type ConfigResult = { ok: true; config: Config; file: string } | { ok: false; errors: ConfigError[] };


/** Reads and validates a config file. Never throws: an unreadable file is an error like any other. */
export async function loadConfigFile(path: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `config file not found: ${path}`
        : code === 'EISDIR'
          ? `expected a file, got a directory: ${path}`
          : `cannot read config file ${path}: ${describeError(error)}`;
    return { ok: false, errors: [{ file: path, line: 1, column: 1, message }] };
  }
  return parseConfig(text, path);
}

/** Parses and validates config text; `file` names it in errors and anchors relative repo paths. */
export function parseConfig(text: string, file: string): ConfigResult {
  const lines = new LineCounter();
  // merge: GitLab CI users share settings through `<<: *anchor`, and expect it to work here too.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true });
  const at = (offset: number | undefined, message: string): ConfigError => {
    const { line, col } = offset === undefined ? { line: 1, col: 1 } : lines.linePos(offset);
    return { file, line, column: col, message };
  };

  const syntaxErrors = doc.errors.map((error) => {
    // yaml places indentation errors at the start of the line; the key past the spaces is what is misplaced.
    let offset = error.pos[0];
    while (text[offset] === ' ') offset++;
    return at(offset, syntaxMessage(doc, error.code, error.pos[0], error.message));
  });
  syntaxErrors.push(...unresolvedAliases(doc).map((alias) => at(alias.range?.[0], `unknown alias *${alias.source}: define &${alias.source} above it`)));
  if (syntaxErrors.length > 0) return { ok: false, errors: sortByPosition(syntaxErrors) };

  const top = doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) {
    return { ok: false, errors: [at(undefined, 'the file is empty: expected a mapping with "pipeline" and "services"')] };
  }
  if (!isMap(top)) {
    return { ok: false, errors: [at(top.range?.[0], `expected a mapping at the top of the file, got ${describeNode(top)}`)] };
  }

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // An alias bomb or a merge of a non-mapping: yaml gives no position for either.
    return { ok: false, errors: [at(undefined, describeError(error))] };
  }

  const parsed = Config.safeParse(data, { reportInput: true, error: expectation });
  if (!parsed.success) {
    const errors = parsed.error.issues.flatMap((issue) =>
      issueErrors(doc, issue).map(({ offset, message }) => at(offset, message)),
    );
    return { ok: false, errors: sortByPosition(errors) };
  }

  const baseDir = dirname(resolve(file));
  const services = Object.fromEntries(
    Object.entries(parsed.data.services).map(([name, service]) => [name, { ...service, repo: resolveRepo(service.repo, baseDir) }]),
  );
  return { ok: true, config: { ...parsed.data, services }, file };
}

/** One line per error: `file:line:column: message`, the form editors and terminals link. */
export function formatConfigErrors(errors: readonly ConfigError[]): string {
  return errors.map((error) => `${error.file}:${error.line}:${error.column}: ${error.message}`).join('\n');
}

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
// Git reads `host:path` and `user@host:path` as ssh when the colon comes before any slash.
const SCP_LIKE = /^[^/]+:/;

function resolveRepo(repo: string, baseDir: string): string {
  return URL_SCHEME.test(repo) || SCP_LIKE.test(repo) ? repo : resolve(baseDir, repo);
}

function sortByPosition(errors: ConfigError[]): ConfigError[] {
  return errors.sort((a, b) => a.line - b.line || a.column - b.column);
}

function syntaxMessage(doc: Document, code: string, offset: number, fallback: string): string {
  if (code === 'MULTIPLE_DOCS') return 'expected one YAML document, found a second "---"';
  if (code !== 'DUPLICATE_KEY') return fallback;
  const found = keyAt(doc.contents, offset, []);
  if (!found) return 'duplicate key';
  return withPath(found.path, `duplicate key "${found.key}"`);
}

/** The map path and name of the key that starts at `offset`. */
function keyAt(node: unknown, offset: number, path: PropertyKey[]): { path: PropertyKey[]; key: string } | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = keyName(pair.key);
      if (isNode(pair.key) && pair.key.range?.[0] === offset) return { path, key };
      const found = keyAt(pair.value, offset, [...path, key]);
      if (found) return found;
    }
  }
  if (isSeq(node)) {
    for (const [index, item] of node.items.entries()) {
      const found = keyAt(item, offset, [...path, index]);
      if (found) return found;
    }
  }
  return undefined;
}

function unresolvedAliases(doc: Document): Alias[] {
  const missing: Alias[] = [];
  visit(doc, {
    Alias(_, alias) {
      if (!alias.resolve(doc)) missing.push(alias);
    },
  });
  return missing;
}

function keyName(key: unknown): string {
  return String(isScalar(key) ? key.value : key);
}

function withPath(path: readonly PropertyKey[], message: string): string {
  return path.length === 0 ? message : `${path.map(String).join('.')}: ${message}`;
}

/** Where a path lands in the document: the deepest node reached, and the key it sits under. */
interface Location {
  node: unknown;
  key: Node | undefined;
  /** How many segments of the path were found. */
  depth: number;
}

function locate(doc: Document, path: readonly PropertyKey[]): Location {
  let here: Location = { node: doc.contents, key: undefined, depth: 0 };
  for (const segment of path) {
    const node = isAlias(here.node) ? here.node.resolve(doc) : here.node;
    let next: Location | undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) => keyName(item.key) === String(segment));
      if (pair) next = { node: pair.value, key: isNode(pair.key) ? pair.key : undefined, depth: here.depth + 1 };
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      next = { node: node.items[segment], key: undefined, depth: here.depth + 1 };
    }
    if (!next) break;
    here = next;
  }
  return here;
}

/**
 * A mapping or list is named by its key (`payment:`), which is where a reader looks for it;
 * a scalar is pointed at directly.
 */
function offsetOf({ node, key }: Location): number | undefined {
  if (key && (isCollection(node) || !isNode(node))) return key.range?.[0];
  return isNode(node) ? node.range?.[0] : undefined;
}

function issueErrors(doc: Document, issue: z.core.$ZodIssue): { offset: number | undefined; message: string }[] {
  const { path } = issue;
  if (issue.code === 'unrecognized_keys') {
    const allowed = objectAt(Config, path)?.keyof().options ?? [];
    const hint = allowed.length > 0 ? ` (expected one of: ${allowed.join(', ')})` : '';
    return issue.keys.map((key) => ({
      offset: locate(doc, [...path, key]).key?.range?.[0] ?? offsetOf(locate(doc, path)),
      message: withPath(path, `unknown key "${key}"${hint}`),
    }));
  }
  const location = locate(doc, path);
  if (issue.code === 'invalid_key') {
    const key = path[path.length - 1];
    const reason = issue.issues[0]?.message ?? 'invalid key';
    return [{ offset: location.key?.range?.[0] ?? offsetOf(location), message: withPath(path, `${reason}, got ${describeValue(key)}`) }];
  }
  if (issue.code === 'invalid_type' && issue.input === undefined && location.depth === path.length - 1) {
    return [{ offset: offsetOf(location), message: withPath(path.slice(0, -1), `missing required key "${String(path[path.length - 1])}"`) }];
  }
  const message = issue.code === 'custom' ? issue.message : `${issue.message}, got ${describeValue(issue.input)}`;
  return [{ offset: offsetOf(location), message: withPath(path, message) }];
}

/** The object schema that validates the mapping at `path`, to list the keys it accepts. */
function objectAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): z.ZodObject | undefined {
  if (schema instanceof z.ZodPipe) return objectAt(schema.in, path);
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault) {
    return objectAt(schema.unwrap(), path);
  }
  const [head, ...rest] = path;
  if (head === undefined) return schema instanceof z.ZodObject ? schema : undefined;
  if (schema instanceof z.ZodObject) {
    const field = schema.shape[String(head)];
    return field ? objectAt(field, rest) : undefined;
  }
  if (schema instanceof z.ZodRecord) return objectAt(schema.valueType, rest);
  if (schema instanceof z.ZodArray) return objectAt(schema.element, rest);
  return undefined;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'a boolean',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

const typeName = (expected: string) => TYPE_NAMES[expected] ?? `a ${expected}`;

/**
 * Plain-words text for issues whose schema gave none; a message written in model.ts wins over
 * this. Each says what was expected; issueErrors adds what was found.
 */
function expectation(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${typeName(issue.expected)}`;
    case 'too_small':
    case 'too_big': {
      const limit = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const bound = issue.code === 'too_small' ? (issue.inclusive ? 'at least' : 'greater than') : issue.inclusive ? 'at most' : 'less than';
      if (issue.origin === 'string' && issue.code === 'too_small' && limit === 1) return 'expected a non-empty string';
      if (issue.origin === 'string') return `expected ${bound} ${limit} characters`;
      if (issue.origin === 'array') return `expected ${bound} ${limit} items`;
      return `expected a number ${bound} ${limit}`;
    }
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}`
        : `expected one of: ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    case 'invalid_format':
      if (issue.format === 'starts_with') return `expected a string starting with "${issue.prefix}"`;
      if (issue.format === 'regex') return `expected a string matching ${issue.pattern}`;
      return `expected a valid ${issue.format}`;
    case 'invalid_union': {
      const types = issue.errors.map((option) => (option.length === 1 && option[0]?.code === 'invalid_type' ? option[0].expected : null));
      if (types.some((type) => type === null)) return 'expected a valid value';
      const names = types.map((type) => typeName(type!));
      return `expected ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
    }
    case 'not_multiple_of':
      return `expected a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
    case 'invalid_key':
    case 'invalid_element':
    case 'custom':
      return undefined;
    default: {
      const unhandled: never = issue;
      return unhandled;
    }
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

function describeNode(node: unknown): string {
  if (isSeq(node)) return 'a list';
  return describeValue(isScalar(node) ? node.value : node);
}
