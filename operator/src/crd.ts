// Builds the JobPool CustomResourceDefinition from the zod schema: a structural OpenAPI v3 schema Kubernetes accepts.
import { z } from 'zod';
import { stringify } from 'yaml';
import { GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION, jobPoolSpecSchema, jobPoolStatusSchema } from './jobpool.ts';

type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Rewrites zod's JSON Schema into Kubernetes' structural dialect: no `additionalProperties: false`,
 * `x-kubernetes-preserve-unknown-fields` where zod allows any value, and no JavaScript safe-integer
 * bounds that only say "a number".
 */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (!isObject(node)) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    if (key === 'additionalProperties') {
      if (value === false) continue;
      if (isObject(value) && Object.keys(value).length === 0) {
        out['x-kubernetes-preserve-unknown-fields'] = true;
        continue;
      }
    }
    if ((key === 'maximum' || key === 'minimum') && typeof value === 'number' && Math.abs(value) >= Number.MAX_SAFE_INTEGER) continue;
    if (key === 'default' || key === 'enum' || key.startsWith('x-kubernetes-')) {
      out[key] = value;
      continue;
    }
    if (key === 'properties' && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toStructural(v)]));
      continue;
    }
    out[key] = toStructural(value);
  }
  // An object defaulted to `{}` gets its fields' defaults spelled out: the API server validates a
  // default (CEL rules included) as written, without applying the nested defaults first.
  const props = out['properties'];
  if (isObject(out['default']) && Object.keys(out['default']).length === 0 && isObject(props)) {
    out['default'] = Object.fromEntries(
      Object.entries(props).flatMap(([k, v]) => (isObject(v) && v['default'] !== undefined ? [[k, v['default']]] : [])),
    );
  }
  // An item of any JSON type (`z.unknown()`): structural schemas spell it as preserve-unknown-fields without a type.
  if (Object.keys(node).every((k) => k === 'description') && out['type'] === undefined) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

function openApi(schema: z.ZodType): Schema {
  return toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' })) as Schema;
}

/** The JobPool CRD as an object (apiextensions.k8s.io/v1). */
export function jobPoolCrd(): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES, categories: ['forkpool'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A pool of Resque-compatible workers: the operator keeps a worker Deployment sized by the depth of the pool\'s Redis queues.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
                kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
                metadata: { type: 'object' },
                spec: openApi(jobPoolSpecSchema),
                status: openApi(jobPoolStatusSchema),
              },
            },
          },
          subresources: {
            status: {},
            // `kubectl scale` writes .spec.replicas, which fixes the size and turns queue-depth autoscaling off.
            scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
          },
          additionalPrinterColumns: [
            { name: 'Queues', type: 'string', jsonPath: '.spec.queues', description: 'Queues in priority order.' },
            { name: 'Depth', type: 'integer', jsonPath: '.status.queueDepth', description: 'Jobs waiting.' },
            { name: 'In-Flight', type: 'integer', jsonPath: '.status.inFlight', description: 'Jobs held by workers.', priority: 1 },
            { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Worker pods that exist.' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Worker pods that are ready.', priority: 1 },
            { name: 'Desired', type: 'integer', jsonPath: '.status.desiredReplicas', description: 'Worker pods the operator asks for.' },
            { name: 'Wait', type: 'number', jsonPath: '.status.autoscaling.expectedWaitSeconds', description: 'Expected wait of a new job, in seconds (with targetWaitSeconds).' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}

/** The CRD file's text, as checked in at crds/jobpool.yaml. */
export function renderCrd(): string {
  return `# Generated by \`npm run crds\` from operator/src/jobpool.ts: edit the schema there, not this file.\n${stringify(jobPoolCrd(), { lineWidth: 0 })}`;
}
