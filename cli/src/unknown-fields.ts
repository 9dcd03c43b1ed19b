// The fields of an object that a structural OpenAPI schema (a CRD's) does not declare: what `kubectl apply`
// refuses as `unknown field "spec.scaling.maxReplica"` under strict field validation.

type Schema = { [key: string]: unknown };

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fields of metav1.ObjectMeta, which the API server checks in every object's metadata. */
const OBJECT_META = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

/**
 * The paths (`spec.schedules[0].clas`) of the fields in `value` that `schema` does not declare, where it
 * does not preserve unknown fields (`x-kubernetes-preserve-unknown-fields`). `metadata` at the top is
 * checked against ObjectMeta, as the API server does.
 */
export function unknownFields(value: unknown, schema: Schema, path = ''): string[] {
  if (Array.isArray(value)) {
    const items = schema['items'];
    return isObject(items) ? value.flatMap((v, i) => unknownFields(v, items, `${path}[${i}]`)) : [];
  }
  if (!isObject(value)) return [];
  const properties = isObject(schema['properties']) ? schema['properties'] : {};
  const additional = schema['additionalProperties'];
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    if (path === '' && key === 'metadata') {
      if (isObject(child)) found.push(...Object.keys(child).filter((k) => !OBJECT_META.has(k)).map((k) => `metadata.${k}`));
      continue;
    }
    const declared = properties[key];
    if (isObject(declared)) found.push(...unknownFields(child, declared, at));
    else if (isObject(additional)) found.push(...unknownFields(child, additional, at));
    else if (!preserve) found.push(at);
  }
  return found;
}
