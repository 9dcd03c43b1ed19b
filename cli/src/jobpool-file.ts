// Reads the JobPool file a user applies to a cluster and validates it as the API server would: the
// CRD's schema for unknown fields, the operator's schema for values.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { jobPoolCrd } from '../../operator/src/crd.ts';
import { describeIssues, GROUP, jobPoolSpecSchema, KIND, poolKey, VERSION, type JobPool } from '../../operator/src/jobpool.ts';
import { usageError } from './errors.ts';
import { unknownFields } from './unknown-fields.ts';

const API_VERSION = `${GROUP}/${VERSION}`;

/** The CRD's openAPIV3Schema, generated from the operator's schema as crds/jobpool.yaml is. */
function crdSchema(): Record<string, unknown> {
  const crd = jobPoolCrd() as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
  if (!schema) throw new Error('the JobPool CRD has no schema');
  return schema;
}

/** The names the API server takes: a pool's name is a DNS subdomain, its namespace a DNS label. */
const metadata = z.looseObject({
  name: z.string({ error: 'must be set' }).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be lowercase letters, digits, - and . (a DNS subdomain name)'),
  namespace: z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and - (a DNS label)').optional(),
});

/**
 * The one JobPool in a YAML file (other documents, such as a Secret, are skipped), as the operator
 * would see it; a file that cannot be read or does not validate is a usage error naming the field.
 * Every command that takes a JobPool file reads it here, as strictly as `kubectl apply`: another
 * apiVersion, or a field the CRD does not declare (a misspelt `maxReplica`), is refused with its path.
 */
export function readJobPoolFile(path: string): JobPool {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read JobPool file ${path}: ${(err as Error).message}`);
  }
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw usageError(`${path} is not YAML`);
  const pools: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw usageError(`${path} is not valid YAML: ${doc.errors[0]?.message ?? ''}`);
    const value: unknown = doc.toJS();
    if (value && typeof value === 'object' && (value as { kind?: unknown }).kind === KIND) pools.push(value);
  }
  if (pools.length === 0) throw usageError(`${path} holds no ${KIND} (kind: ${KIND})`);
  if (pools.length > 1) throw usageError(`${path} holds ${pools.length} ${KIND}s: give a file with one`);
  const obj = pools[0] as { apiVersion?: unknown; metadata?: unknown; spec?: unknown };
  if (obj.apiVersion !== API_VERSION) throw usageError(`${path}: apiVersion must be ${API_VERSION}, got ${JSON.stringify(obj.apiVersion ?? null)}`);
  const unknown = unknownFields(obj, crdSchema());
  if (unknown.length > 0) {
    throw usageError(`${path}: invalid JobPool: ${unknown.map((f) => `unknown field "${f}"`).join(', ')} (kubectl apply refuses ${unknown.length === 1 ? 'it' : 'them'} too)`);
  }
  const meta = metadata.safeParse(obj.metadata);
  if (!meta.success) throw usageError(`${path}: invalid JobPool: ${describeIssues(meta.error).replace(/(^|; )/g, '$1metadata.')}`);
  const spec = jobPoolSpecSchema.safeParse(obj.spec);
  if (!spec.success) throw usageError(`${path}: invalid JobPool: ${describeIssues(spec.error).replace(/(^|; )/g, '$1spec.')}`);
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { ...meta.data, namespace: meta.data.namespace ?? 'default', uid: 'local', generation: 1 },
    spec: spec.data,
  };
}

/** The pool's key, as the operator names it in the scheduler's fired hash. */
export const poolKeyOf = (pool: JobPool): string => poolKey(pool.metadata.namespace, pool.metadata.name);
