/** PostgreSQL built-in type OIDs the masks understand (pg_type.oid, stable across versions). */
export const OID = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

/** How a mask treats a column type. Anything not listed is 'other' (masks other than those yielding NULL give NULL). */
export type TypeFamily =
  | 'text' // text, varchar, bpchar, name, unknown, and string-category types (citext) when the caller says so
  | 'int2'
  | 'int4'
  | 'int8'
  | 'numeric'
  | 'float4'
  | 'float8'
  | 'bool'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'json'
  | 'jsonb'
  | 'uuid'
  | 'bytea'
  | 'other';

export function typeFamily(typeOid: number, typeCategory?: string): TypeFamily {
  switch (typeOid) {
    case OID.text:
    case OID.varchar:
    case OID.bpchar:
    case OID.name:
    case OID.unknown:
      return 'text';
    case OID.int2:
      return 'int2';
    case OID.int4:
      return 'int4';
    case OID.int8:
      return 'int8';
    case OID.numeric:
      return 'numeric';
    case OID.float4:
      return 'float4';
    case OID.float8:
      return 'float8';
    case OID.bool:
      return 'bool';
    case OID.date:
      return 'date';
    case OID.timestamp:
      return 'timestamp';
    case OID.timestamptz:
      return 'timestamptz';
    case OID.json:
      return 'json';
    case OID.jsonb:
      return 'jsonb';
    case OID.uuid:
      return 'uuid';
    case OID.bytea:
      return 'bytea';
    default:
      // pg_type.typcategory 'S' (citext, domains resolve to their base type on the wire anyway):
      // text I/O and binary send/recv are the UTF-8 bytes, like text.
      return typeCategory === 'S' ? 'text' : 'other';
  }
}

/**
 * Character limit from a RowDescription type modifier for varchar(n) / bpchar(n)
 * (atttypmod = n + 4), name (63 bytes), or undefined when unlimited.
 */
export function textLimit(typeOid: number, typeModifier: number | undefined): number | undefined {
  if (typeOid === OID.name) return 63;
  if ((typeOid === OID.varchar || typeOid === OID.bpchar) && typeModifier !== undefined && typeModifier >= 5) return typeModifier - 4;
  return undefined;
}

/** numeric(p, s) from its type modifier, or undefined when unconstrained. */
export function numericPrecision(typeModifier: number | undefined): { precision: number; scale: number } | undefined {
  if (typeModifier === undefined || typeModifier < 4) return undefined;
  const t = typeModifier - 4;
  return { precision: (t >> 16) & 0xffff, scale: t & 0x7ff };
}
