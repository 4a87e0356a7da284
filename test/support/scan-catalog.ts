/** The shape of a `pgveil scan` catalog as the tests read it back (parsed YAML). */
export interface CatalogFinding {
  class: string;
  confidence: number;
  match_rate: number;
  detector: string;
  json_path?: string;
}

export interface CatalogColumn {
  relation_kind: string;
  type: string;
  class: string;
  confidence: number;
  findings: CatalogFinding[];
}

export interface Catalog {
  version: number;
  database: string;
  schemas: string[];
  sample_rows: number;
  threshold: number;
  relations: {
    scanned: { relation: string; kind: string; rows_sampled: number; method: string }[];
    skipped: { relation: string; kind: string; sqlstate?: string; reason: string }[];
  };
  columns: Record<string, CatalogColumn>;
  below_threshold: Record<string, CatalogFinding>;
}
