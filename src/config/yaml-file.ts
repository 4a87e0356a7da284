import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';

/** A YAML file whose values can be traced back to file:line:column for error messages. */
export interface YamlSource {
  file: string;
  value: unknown;
  /** "file:line:col" of the node at `path` (or of the nearest existing parent). */
  where(path: readonly (string | number)[]): string;
}

export class YamlFileError extends Error {}

export function readYamlFile(file: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new YamlFileError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseYamlText(text, file);
}

export function parseYamlText(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lineCounter.linePos(e.pos[0]);
    throw new YamlFileError(`${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`);
  }
  const where = (path: readonly (string | number)[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return `${file}:${pos.line}:${pos.col}`;
      }
    }
    return `${file}:1:1`;
  };
  return { file, value: doc.toJS({ maxAliasCount: 100 }) as unknown, where };
}
