import { readFileSync, existsSync } from 'node:fs';
import { resolve, isAbsolute, dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_KEYS, envName, type KeySpec } from './schema.js';
import { ConfigError, type CallgateConfig, type ConfigIssue } from './config.js';
import { trustedIssuerProblems, type TrustedIssuerConfig } from './trusted-issuers.js';

export interface LoadConfigOptions {
  /** Path of the config file; when absent, `callgate.yaml` in `cwd` is used if it exists. */
  file?: string | undefined;
  /** Environment (defaults to `process.env`): every `CALLGATE_*` variable must be a known key. */
  env?: Record<string, string | undefined>;
  /** Overrides by dotted key (CLI flags), highest precedence. */
  overrides?: Record<string, unknown>;
  cwd?: string;
}

type Layer = { source: string; values: Map<string, unknown> };

const SPECS: Record<string, KeySpec> = CONFIG_KEYS;
/** Variables the loader itself reads rather than mapping to a key. */
const RESERVED_ENV = new Set(['CALLGATE_CONFIG']);

/**
 * Builds the configuration from defaults < config file < `CALLGATE_*` environment < overrides,
 * validates it and returns it frozen. Every problem is reported at once with its dotted path.
 *
 * @example
 * ```ts
 * const config = loadConfig({ file: 'callgate.yaml', overrides: { 'server.port': 0 } });
 * ```
 */
export function loadConfig(options: LoadConfigOptions = {}): CallgateConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const issues: ConfigIssue[] = [];
  const layers: Layer[] = [];

  const filePath = options.file ?? env.CALLGATE_CONFIG;
  let fileDir = cwd;
  if (filePath !== undefined) {
    const abs = resolve(cwd, filePath);
    if (!existsSync(abs)) issues.push({ path: '(file)', message: `config file not found: ${abs}` });
    else layers.push(readFileLayer(abs, issues));
    fileDir = dirname(abs);
  } else if (existsSync(resolve(cwd, 'callgate.yaml'))) {
    const abs = resolve(cwd, 'callgate.yaml');
    layers.push(readFileLayer(abs, issues));
    fileDir = dirname(abs);
  }
  layers.push(readEnvLayer(env, issues));
  if (options.overrides) {
    const values = new Map<string, unknown>();
    for (const [k, v] of Object.entries(options.overrides)) {
      if (v === undefined) continue;
      if (!(k in SPECS)) issues.push({ path: k, message: 'unknown key', source: 'flags' });
      else values.set(k, v);
    }
    layers.push({ source: 'flags', values });
  }

  const flat = new Map<string, unknown>();
  const sourceOf = new Map<string, string>();
  for (const [key, spec] of Object.entries(SPECS)) flat.set(key, spec.default);
  for (const layer of layers) {
    for (const [k, v] of layer.values) {
      flat.set(k, v);
      sourceOf.set(k, layer.source);
    }
  }

  const out = new Map<string, unknown>();
  for (const [key, spec] of Object.entries(SPECS)) {
    const raw = flat.get(key);
    const value = coerce(key, spec, raw, sourceOf.get(key), issues, { env, baseDir: fileDir });
    out.set(key, value);
  }
  crossValidate(out, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return deepFreeze(unflatten(out)) as unknown as CallgateConfig;
}

function readFileLayer(abs: string, issues: ConfigIssue[]): Layer {
  const values = new Map<string, unknown>();
  const source = abs;
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(abs, 'utf8'));
  } catch (err) {
    issues.push({
      path: '(file)',
      message: `cannot parse YAML: ${(err as Error).message}`,
      source,
    });
    return { source, values };
  }
  if (doc === null || doc === undefined) return { source, values };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    issues.push({ path: '(file)', message: 'the top level must be a mapping', source });
    return { source, values };
  }
  flattenInto(doc as Record<string, unknown>, '', values, issues, source);
  return { source, values };
}

function flattenInto(
  obj: Record<string, unknown>,
  prefix: string,
  values: Map<string, unknown>,
  issues: ConfigIssue[],
  source: string,
): void {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (path in SPECS) values.set(path, v);
    else if (
      v !== null &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.keys(SPECS).some((s) => s.startsWith(path + '.'))
    )
      flattenInto(v as Record<string, unknown>, path, values, issues, source);
    else issues.push({ path, message: 'unknown key', source });
  }
}

function readEnvLayer(env: Record<string, string | undefined>, issues: ConfigIssue[]): Layer {
  const byEnv = new Map(Object.keys(SPECS).map((k) => [envName(k), k]));
  const values = new Map<string, unknown>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CALLGATE_') || value === undefined || RESERVED_ENV.has(name)) continue;
    const key = byEnv.get(name);
    if (key === undefined) {
      issues.push({
        path: name,
        message: 'unknown CALLGATE_* environment variable',
        source: 'env',
      });
      continue;
    }
    values.set(key, parseEnvValue(SPECS[key]!, value));
  }
  return { source: 'env', values };
}

function parseEnvValue(spec: KeySpec, value: string): unknown {
  switch (spec.kind) {
    case 'integer':
      return value.trim() === '' ? value : Number(value);
    case 'boolean':
      return ['true', '1', 'yes', 'on'].includes(value.toLowerCase())
        ? true
        : ['false', '0', 'no', 'off'].includes(value.toLowerCase())
          ? false
          : value;
    case 'object[]':
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    case 'string[]':
    case 'enum[]':
    case 'secret[]':
      if (value.trim().startsWith('[')) {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          return value;
        }
      }
      return value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    default:
      return value;
  }
}

interface CoerceContext {
  env: Record<string, string | undefined>;
  baseDir: string;
}

function coerce(
  key: string,
  spec: KeySpec,
  raw: unknown,
  source: string | undefined,
  issues: ConfigIssue[],
  ctx: CoerceContext,
): unknown {
  const fail = (message: string, path = key): undefined => {
    issues.push(source ? { path, message, source } : { path, message });
    return undefined;
  };
  if (raw === undefined || raw === null) {
    if (spec.optional || spec.default === undefined) return undefined;
    return fail('is required');
  }
  switch (spec.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') return fail('must be a non-empty string');
      return raw;
    case 'url': {
      if (typeof raw !== 'string') return fail('must be a URL string');
      try {
        const u = new URL(raw);
        if (u.protocol !== 'http:' && u.protocol !== 'https:')
          return fail('must be an http(s) URL');
        return raw.replace(/\/+$/, '');
      } catch {
        return fail('must be an absolute URL');
      }
    }
    case 'integer': {
      if (typeof raw !== 'number' || !Number.isInteger(raw)) return fail('must be an integer');
      if (spec.min !== undefined && raw < spec.min) return fail(`must be at least ${spec.min}`);
      if (spec.max !== undefined && raw > spec.max) return fail(`must be at most ${spec.max}`);
      return raw;
    }
    case 'boolean':
      if (typeof raw !== 'boolean') return fail('must be true or false');
      return raw;
    case 'enum':
      if (typeof raw !== 'string' || !spec.values!.includes(raw))
        return fail(`must be one of ${spec.values!.join(', ')}`);
      return raw;
    case 'string[]':
    case 'enum[]': {
      if (!Array.isArray(raw)) return fail('must be a list');
      const list: string[] = [];
      raw.forEach((item, i) => {
        if (typeof item !== 'string' || item === '')
          fail('must be a non-empty string', `${key}[${i}]`);
        else if (spec.kind === 'enum[]' && !spec.values!.includes(item))
          fail(`must be one of ${spec.values!.join(', ')}`, `${key}[${i}]`);
        else list.push(item);
      });
      return list;
    }
    case 'object[]': {
      if (!Array.isArray(raw)) return fail('must be a list');
      const list: unknown[] = [];
      raw.forEach((item, i) => {
        const v = spec.parseItem!(item, `${key}[${i}]`, fail);
        if (v !== undefined) list.push(v);
      });
      return list;
    }
    case 'secret':
      return resolveSecret(raw, key, ctx, fail);
    case 'secret[]': {
      if (!Array.isArray(raw)) return fail('must be a list of secrets');
      const list: string[] = [];
      raw.forEach((item, i) => {
        const v = resolveSecret(item, `${key}[${i}]`, ctx, fail);
        if (v !== undefined) list.push(v);
      });
      return list;
    }
  }
}

/**
 * A secret is a literal string, `{ value }`, `{ env: NAME }` or `{ secretFile: PATH }`
 * (path relative to the config file). The value itself never appears in an error.
 */
function resolveSecret(
  raw: unknown,
  path: string,
  ctx: CoerceContext,
  fail: (message: string, path?: string) => undefined,
): string | undefined {
  if (typeof raw === 'string') return raw === '' ? fail('must not be empty', path) : raw;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return fail('must be a string or one of {value}, {env}, {secretFile}', path);
  const o = raw as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 1) return fail('must have exactly one of value, env, secretFile', path);
  if (typeof o.value === 'string' && o.value !== '') return o.value;
  if (typeof o.env === 'string') {
    const v = ctx.env[o.env];
    return v === undefined || v === '' ? fail(`environment variable ${o.env} is not set`, path) : v;
  }
  if (typeof o.secretFile === 'string') {
    const file = isAbsolute(o.secretFile) ? o.secretFile : resolve(ctx.baseDir, o.secretFile);
    try {
      const v = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      return v === '' ? fail(`secret file ${file} is empty`, path) : v;
    } catch {
      return fail(`cannot read secret file ${file}`, path);
    }
  }
  return fail('must be a string or one of {value}, {env}, {secretFile}', path);
}

/** The minimum TURN secret size: the credential HMAC falls offline to a weak secret (catalogue G82). */
export const MIN_TURN_SECRET_BYTES = 32;

function crossValidate(out: Map<string, unknown>, issues: ConfigIssue[]): void {
  const secrets = out.get('turn.secrets') as string[] | undefined;
  secrets?.forEach((s, i) => {
    if (Buffer.byteLength(s, 'utf8') < MIN_TURN_SECRET_BYTES)
      issues.push({
        path: `turn.secrets[${i}]`,
        message: `must be at least ${MIN_TURN_SECRET_BYTES} bytes (generate one with: openssl rand -base64 48)`,
      });
  });
  const ttl = out.get('auth.accessTokenTtlSeconds') as number | undefined;
  const minTtl = out.get('auth.minTokenTtlSeconds') as number | undefined;
  if (ttl !== undefined && minTtl !== undefined && minTtl > ttl)
    issues.push({
      path: 'auth.minTokenTtlSeconds',
      message: 'must not exceed auth.accessTokenTtlSeconds',
    });
  const alg = out.get('auth.algorithm') as string | undefined;
  const allowed = out.get('auth.allowedAlgorithms') as string[] | undefined;
  if (alg !== undefined && allowed !== undefined && !allowed.includes(alg))
    issues.push({
      path: 'auth.allowedAlgorithms',
      message: `must include auth.algorithm (${alg})`,
    });
  if (allowed !== undefined && allowed.length === 0)
    issues.push({ path: 'auth.allowedAlgorithms', message: 'must not be empty' });
  for (const originsKey of ['signal.allowedOrigins', 'auth.sessionAllowedOrigins']) {
    const origins = out.get(originsKey) as string[] | undefined;
    origins?.forEach((o, i) => {
      let ok = false;
      try {
        const u = new URL(o);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o;
      } catch {
        ok = false;
      }
      if (!ok)
        issues.push({
          path: `${originsKey}[${i}]`,
          message:
            'must be an exact origin like https://app.example.com (scheme, host, optional port; no path)',
        });
    });
  }
  issues.push(
    ...trustedIssuerProblems((out.get('auth.trustedIssuers') as TrustedIssuerConfig[]) ?? [], {
      dev: out.get('dev') === true,
      ownIssuer: out.get('auth.issuer') as string | undefined,
    }),
  );
  const urls = out.get('turn.urls') as string[] | undefined;
  urls?.forEach((u, i) => {
    if (!/^(stuns?|turns?):[^\s?]+(\?transport=(udp|tcp))?$/.test(u))
      issues.push({
        path: `turn.urls[${i}]`,
        message: 'must be a stun:, stuns:, turn: or turns: URL, optionally with ?transport=udp|tcp',
      });
  });
}

function unflatten(flat: Map<string, unknown>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of flat) {
    const parts = key.split('.');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i]!;
      node[p] ??= {};
      node = node[p] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = value;
  }
  return root;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
