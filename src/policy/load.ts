/**
 * Policy files: YAML → validated, normalized, frozen Policy. Every problem is
 * reported (not just the first) as file:line:col, through PolicyError.
 *
 *   version: 1
 *   hash_key_env: PGVEIL_HASH_KEY          # env var with the HMAC key of `hash` masks (this default)
 *   classes:                               # defaults inherited by columns of the class
 *     ssn: { mask: partial, keep_last: 4, filter: deny }
 *   columns:                               # schema.table.column; unquoted parts fold to lower case;
 *     app.users.ssn: { class: ssn }        # "Quoted" parts keep case; * and ? are globs
 *     "*.*.ssn": { class: ssn }
 *     'app."Users".email': { class: email, mask: email }
 *   roles:                                 # login user or member role (globs): standing raw access
 *     app_backend: { raw: [email, app.users.phone] }   # class names, column keys/patterns, or "*"
 *   jit: { requesters: [analyst, "dev_*"], approvers: [security_lead], max_duration: 4h, approvals_required: 1 }
 */
import { z } from 'zod';
import { parseYamlText, readYamlFile, YamlFileError, type YamlSource } from '../config/yaml-file.js';
import { parseDuration } from '../util/units.js';
import { MASK_KINDS, PARTIAL_DEFAULTS, HASH_DEFAULT_LENGTH, maskDisclosure, type MaskKind, type MaskSpec } from '../masking/spec.js';
import {
  IdentifierError,
  parseColumnPattern,
  parseNamePattern,
  patternKey,
  specificity,
  type ColumnPattern,
  type NamePattern,
} from './identifiers.js';
import { PolicyError, type ClassRule, type ColumnRule, type FilterMode, type JitPolicy, type Policy, type PolicyIssue, type RoleRule } from './types.js';

export const DEFAULT_HASH_KEY_ENV = 'PGVEIL_HASH_KEY';
export const DEFAULT_JIT_MAX_DURATION_MS = 3_600_000;

type Path = readonly (string | number)[];

// ---------------------------------------------------------------- schemas

const OPTION_KEYS = ['keep_first', 'keep_last', 'keep_separators', 'mask_char', 'length', 'step', 'value'] as const;
type OptionKey = (typeof OPTION_KEYS)[number];

const MASK_OPTIONS: Record<MaskKind, readonly OptionKey[]> = {
  redact: [],
  partial: ['keep_first', 'keep_last', 'keep_separators', 'mask_char'],
  email: [],
  hash: ['length'],
  null: [],
  year: [],
  round: ['step'],
  fixed: ['value'],
};

const wholeNumber = (name: string, min: number, max: number) => {
  const msg = `${name} must be a whole number from ${min} to ${max}`;
  return z.number(msg).int(msg).min(min, msg).max(max, msg);
};

const maskField = z
  .enum(MASK_KINDS, { error: (iss) => `unknown mask ${JSON.stringify(iss.input)}: use one of ${MASK_KINDS.join(', ')}` })
  .nullable(); // YAML `mask: null` unquoted is the null mask too

const ruleShape = {
  mask: maskField.optional(),
  filter: z.enum(['allow', 'deny'], 'filter must be allow or deny').optional(),
  keep_first: wholeNumber('keep_first', 0, 1000).optional(),
  keep_last: wholeNumber('keep_last', 0, 1000).optional(),
  keep_separators: z.boolean('keep_separators must be true or false').optional(),
  mask_char: z
    .string('mask_char must be a single character')
    .refine((s) => Array.from(s).length === 1, 'mask_char must be a single character')
    .optional(),
  length: wholeNumber('length', 8, 64).optional(),
  step: z
    .number('step must be a positive number')
    .refine((n) => Number.isFinite(n) && n > 0, 'step must be a positive number')
    .optional(),
  value: z.union([z.string(), z.number(), z.boolean()], 'value must be a string, number or boolean').optional(),
};

const columnEntrySchema = z.strictObject({
  class: z
    .string('class must be a name')
    .refine((s) => /^[^."*\s]+$/.test(s), 'class must be a name without dots, quotes, spaces or *')
    .optional(),
  ...ruleShape,
});
const classEntrySchema = z.strictObject(ruleShape);
const roleEntrySchema = z.strictObject({
  raw: z.array(z.string('raw entries are class names, schema.table.column keys or "*"'), 'raw must be a list, e.g. raw: [email]'),
});
const jitSchema = z.strictObject({
  requesters: z.array(z.string('requesters are role names or globs'), 'requesters must be a list').optional(),
  approvers: z.array(z.string('approvers are role names or globs'), 'approvers must be a list').optional(),
  max_duration: z.union([z.string(), z.number()], 'max_duration must be a duration such as 30m or 4h').optional(),
  approvals_required: wholeNumber('approvals_required', 1, 100).optional(),
});
const topSchema = z.strictObject({
  version: z.literal(1, 'version must be 1'),
  hash_key_env: z
    .string('hash_key_env must be an environment variable name')
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'hash_key_env must be an environment variable name')
    .optional(),
  classes: z.unknown().optional(),
  columns: z.unknown().optional(),
  roles: z.unknown().optional(),
  jit: z.unknown().optional(),
});

type ColumnEntry = z.infer<typeof columnEntrySchema>;
type RuleOptions = Pick<ColumnEntry, OptionKey>;

// ---------------------------------------------------------------- issues

class Issues {
  readonly list: PolicyIssue[] = [];
  constructor(private readonly src: YamlSource) {}

  add(path: Path, message: string): void {
    this.list.push({ where: this.src.where(path), path: formatPath(path), message });
  }

  /** Validates `value` (found at `path`) with `schema`; reports every issue; returns the data when valid. */
  check<T extends z.ZodObject>(schema: T, value: unknown, path: Path): z.infer<T> | undefined {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const known = Object.keys(schema.shape);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.add(path, `expected a mapping with ${known.join(', ')}`);
      return undefined;
    }
    for (const issue of parsed.error.issues) {
      const sub = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const at = [...path, ...sub];
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) this.add([...at, key], `unknown key "${key}" (allowed here: ${known.join(', ')})`);
      } else if (valueAt(value, sub) === undefined) {
        this.add(at, sub[sub.length - 1] === 'version' ? 'missing: a policy starts with `version: 1`' : 'required');
      } else {
        this.add(at, issue.message);
      }
    }
    return undefined;
  }

  /**
   * Like check, but when some fields are invalid (already reported) returns the
   * valid rest, so independent checks of the other fields still run. For
   * schemas whose fields are all optional.
   */
  checkPartial<T extends z.ZodObject>(schema: T, value: unknown, path: Path): z.infer<T> | undefined {
    const before = this.list.length;
    const data = this.check(schema, value, path);
    if (data !== undefined || !isMapping(value) || this.list.length === before) return data;
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const bad = new Set<string>();
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') for (const k of issue.keys) bad.add(k);
      else if (typeof issue.path[0] === 'string') bad.add(issue.path[0]);
    }
    const rest = Object.fromEntries(Object.entries(value).filter(([k]) => !bad.has(k)));
    const again = schema.safeParse(rest);
    return again.success ? again.data : undefined;
  }
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function formatPath(path: Path): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// ---------------------------------------------------------------- masks

/** Reports options that don't apply to `kind`; builds the spec from own options over `base` (same kind) and defaults. */
function buildMask(kind: MaskKind, own: RuleOptions, base: MaskSpec | undefined, path: Path, issues: Issues, whereMask: string): MaskSpec | undefined {
  const allowed = MASK_OPTIONS[kind];
  let ok = true;
  for (const key of OPTION_KEYS) {
    if (own[key] !== undefined && !allowed.includes(key)) {
      issues.add([...path, key], `${key} does not apply to mask ${kind} (${allowed.length ? `${kind} takes ${allowed.join(', ')}` : `${kind} takes no options`})`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  switch (kind) {
    case 'partial': {
      const b = base?.kind === 'partial' ? base : undefined;
      return {
        kind,
        keepFirst: own.keep_first ?? b?.keepFirst ?? PARTIAL_DEFAULTS.keepFirst,
        keepLast: own.keep_last ?? b?.keepLast ?? PARTIAL_DEFAULTS.keepLast,
        keepSeparators: own.keep_separators ?? b?.keepSeparators ?? PARTIAL_DEFAULTS.keepSeparators,
        maskChar: own.mask_char ?? b?.maskChar ?? PARTIAL_DEFAULTS.maskChar,
      };
    }
    case 'hash':
      return { kind, length: own.length ?? (base?.kind === 'hash' ? base.length : HASH_DEFAULT_LENGTH) };
    case 'round': {
      const step = own.step ?? (base?.kind === 'round' ? base.step : undefined);
      if (step === undefined) {
        issues.add(path, `mask round needs step (e.g. step: 1000)${whereMask}`);
        return undefined;
      }
      return { kind, step };
    }
    case 'fixed': {
      const value = own.value ?? (base?.kind === 'fixed' ? base.value : undefined);
      if (value === undefined) {
        issues.add(path, `mask fixed needs value (e.g. value: "n/a")${whereMask}`);
        return undefined;
      }
      return { kind, value };
    }
    default:
      return { kind };
  }
}

function hasOptions(o: RuleOptions): OptionKey[] {
  return OPTION_KEYS.filter((k) => o[k] !== undefined);
}

// ---------------------------------------------------------------- load

/** Reads and validates a policy file. Throws PolicyError listing every problem. */
export function loadPolicy(file: string): Policy {
  let src: YamlSource;
  try {
    src = readYamlFile(file);
  } catch (err) {
    throw yamlError(file, err);
  }
  return buildPolicy(src);
}

/** Same as loadPolicy for text already in memory (`file` names it in messages). */
export function parsePolicy(text: string, file = '<policy>'): Policy {
  let src: YamlSource;
  try {
    src = parseYamlText(text, file);
  } catch (err) {
    throw yamlError(file, err);
  }
  return buildPolicy(src);
}

function yamlError(file: string, err: unknown): PolicyError {
  if (!(err instanceof YamlFileError)) throw err;
  // "file:line:col: message" or "file: cannot read: ENOENT"
  const m = /^(.*?:\d+:\d+): (.*)$/s.exec(err.message);
  return new PolicyError(file, [m ? { where: m[1], path: '', message: m[2] } : { where: file, path: '', message: err.message.slice(file.length + 2) }]);
}

function buildPolicy(src: YamlSource): Policy {
  const issues = new Issues(src);
  const file = src.file;
  if (src.value === null || src.value === undefined) {
    issues.add([], 'empty policy: expected `version: 1` and `columns:`');
    throw new PolicyError(file, issues.list);
  }
  const top = issues.check(topSchema, src.value, []);
  if (!top) {
    if (!isMapping(src.value)) throw new PolicyError(file, issues.list);
  }
  const doc = src.value as Record<string, unknown>;
  const section = (name: string): [string, unknown][] => {
    const v = doc[name];
    if (v === undefined || v === null) return [];
    if (!isMapping(v)) {
      issues.add([name], `${name} must be a mapping`);
      return [];
    }
    return Object.entries(v);
  };

  // classes
  const classes = new Map<string, ClassRule>();
  /** Classes with errors (already reported): columns relying on them are not reported again. */
  const brokenClasses = new Set<string>();
  for (const [name, value] of section('classes')) {
    const path = ['classes', name];
    if (!/^[^."*\s]+$/.test(name)) issues.add(path, `class name "${name}" must have no dots, quotes, spaces or *`);
    const entry = issues.check(classEntrySchema, value, path);
    if (!entry) {
      brokenClasses.add(name);
      continue;
    }
    let mask: MaskSpec | undefined;
    const kind = entry.mask === null ? 'null' : entry.mask;
    if (kind === undefined) {
      for (const key of hasOptions(entry)) issues.add([...path, key], `${key} needs a mask in this class`);
    } else {
      mask = buildMask(kind, entry, undefined, path, issues, '');
      if (!mask) brokenClasses.add(name);
    }
    classes.set(name, { name, mask, filter: entry.filter, where: src.where(path) });
  }

  // columns
  const rules: ColumnRule[] = [];
  const seen = new Map<string, string>();
  const knownClasses = new Set<string>(classes.keys());
  let order = 0;
  for (const [key, value] of section('columns')) {
    const path = ['columns', key];
    let pattern: ColumnPattern | undefined;
    try {
      pattern = parseColumnPattern(key);
    } catch (err) {
      if (!(err instanceof IdentifierError)) throw err;
      issues.add(path, err.message);
    }
    const entry = issues.check(columnEntrySchema, value, path);
    if (entry?.class !== undefined) knownClasses.add(entry.class);
    if (!pattern || !entry) continue;
    const where = src.where(path);
    const pk = patternKey(pattern);
    const dup = seen.get(pk);
    if (dup !== undefined) {
      issues.add(path, `same column as ${dup}`);
      continue;
    }
    seen.set(pk, `"${key}" at ${where}`);
    const cls = entry.class !== undefined ? classes.get(entry.class) : undefined;
    const kind = entry.mask === null ? 'null' : (entry.mask ?? cls?.mask?.kind);
    if (entry.mask === undefined && entry.class !== undefined && brokenClasses.has(entry.class)) continue;
    if (kind === undefined) {
      issues.add(path, entry.class !== undefined ? `no mask: set mask here or in classes.${entry.class}` : 'no mask: set mask (or class with a mask under classes:)');
      continue;
    }
    const base = cls?.mask?.kind === kind ? cls.mask : undefined;
    const mask = buildMask(kind, entry, base, path, issues, entry.mask === undefined && cls ? ` (class ${cls.name} at ${cls.where})` : '');
    if (!mask) continue;
    rules.push({
      key,
      pattern,
      class: entry.class,
      mask,
      filter: entry.filter ?? cls?.filter ?? 'deny',
      where,
      order: order++,
    });
  }

  // roles
  const roles: RoleRule[] = [];
  for (const [name, value] of section('roles')) {
    const path = ['roles', name];
    let pattern: NamePattern | undefined;
    try {
      pattern = parseNamePattern(name);
    } catch (err) {
      if (!(err instanceof IdentifierError)) throw err;
      issues.add(path, err.message);
    }
    const entry = issues.check(roleEntrySchema, value ?? {}, path);
    if (!pattern || !entry) continue;
    const rawClasses: string[] = [];
    const rawColumns: ColumnPattern[] = [];
    let rawAll = false;
    entry.raw.forEach((item, i) => {
      const text = item.trim();
      if (text === '*') {
        rawAll = true;
      } else if (/[."]/.test(text)) {
        try {
          rawColumns.push(parseColumnPattern(text));
        } catch (err) {
          if (!(err instanceof IdentifierError)) throw err;
          issues.add([...path, 'raw', i], err.message);
        }
      } else if (knownClasses.has(text)) {
        rawClasses.push(text);
      } else {
        issues.add(
          [...path, 'raw', i],
          `unknown class "${text}" (classes in this policy: ${[...knownClasses].join(', ') || 'none'}); columns are written schema.table.column`,
        );
      }
    });
    roles.push({ name, pattern, rawClasses, rawColumns, rawAll, where: src.where(path) });
  }

  // jit
  let jit: JitPolicy = { requesters: [], approvers: [], maxDurationMs: DEFAULT_JIT_MAX_DURATION_MS, approvalsRequired: 1 };
  if (doc.jit !== undefined && doc.jit !== null) {
    const entry = issues.checkPartial(jitSchema, doc.jit, ['jit']);
    if (entry) {
      const names = (list: readonly string[] | undefined, key: string): NamePattern[] =>
        (list ?? []).flatMap((text, i) => {
          try {
            return [parseNamePattern(text)];
          } catch (err) {
            if (!(err instanceof IdentifierError)) throw err;
            issues.add(['jit', key, i], err.message);
            return [];
          }
        });
      const requesters = names(entry.requesters, 'requesters');
      const approvers = names(entry.approvers, 'approvers');
      let maxDurationMs = DEFAULT_JIT_MAX_DURATION_MS;
      if (entry.max_duration !== undefined) {
        try {
          maxDurationMs = parseDuration(entry.max_duration);
          if (maxDurationMs <= 0) issues.add(['jit', 'max_duration'], 'max_duration must be longer than 0');
        } catch (err) {
          issues.add(['jit', 'max_duration'], (err as Error).message);
        }
      }
      if (requesters.length > 0 && (entry.approvers ?? []).length === 0) {
        issues.add(['jit'], 'approvers: at least one approver is needed when requesters are set');
      }
      jit = { requesters, approvers, maxDurationMs, approvalsRequired: entry.approvals_required ?? 1 };
    }
  }

  if (issues.list.length > 0) throw new PolicyError(file, issues.list);

  const exact = new Map<string, ColumnRule>();
  const patterns: ColumnRule[] = [];
  for (const r of rules) {
    if (r.pattern.exact) exact.set(patternKey(r.pattern), r);
    else patterns.push(r);
  }
  patterns.sort(
    (a, b) => specificity(b.pattern) - specificity(a.pattern) || maskDisclosure(a.mask) - maskDisclosure(b.mask) || a.order - b.order,
  );
  const policy: Policy = {
    version: 1,
    file,
    columns: rules,
    classes,
    roles,
    jit,
    hashKeyEnv: top?.hash_key_env ?? DEFAULT_HASH_KEY_ENV,
    exact,
    patterns,
  };
  return deepFreeze(policy);
}

function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value) || value instanceof RegExp) return value;
  if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v);
  } else {
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return Object.freeze(value);
}

/** The HMAC key for `hash` masks from the environment variable the policy names, if set. */
export function resolveHashKey(policy: Policy, env: NodeJS.ProcessEnv): Buffer | undefined {
  const v = env[policy.hashKeyEnv];
  return v ? Buffer.from(v, 'utf8') : undefined;
}

/** True when some column entry uses a `hash` mask (the key must then be set). */
export function policyUsesHash(policy: Policy): boolean {
  return policy.columns.some((r) => r.mask.kind === 'hash');
}
