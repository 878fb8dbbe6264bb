/**
 * A small element tree for one bounded part of a camt message (a group header, a statement header,
 * one balance, one entry): the streaming reader builds one at a time and drops it once emitted, so
 * memory is bounded by the largest entry, never by the file. Pure; no I/O.
 */
export interface XmlNode {
  /** Local name (the camt namespace is checked once, on the Document). */
  name: string;
  attrs: Record<string, string>;
  /** Text content, trimmed; '' for elements with children only. */
  text: string;
  children: XmlNode[];
}

const paths = new Map<string, string[]>();

/** The first descendant along `path` (`'Refs/EndToEndId'`), or undefined. */
export function child(node: XmlNode | undefined, path: string): XmlNode | undefined {
  let cur = node;
  let parts = paths.get(path);
  if (!parts) {
    parts = path.split('/');
    // The paths are the mapping's literals: a bounded set.
    if (paths.size < 10_000) paths.set(path, parts);
  }
  for (const name of parts) {
    if (!cur) return undefined;
    cur = cur.children.find((c) => c.name === name);
  }
  return cur;
}

/** Every child of `node` named `name`. */
export function childrenNamed(node: XmlNode | undefined, name: string): XmlNode[] {
  return node ? node.children.filter((c) => c.name === name) : [];
}

/** The text at `path`, or null when absent or empty. */
export function text(node: XmlNode | undefined, path: string): string | null {
  const t = child(node, path)?.text;
  return t === undefined || t === '' ? null : t;
}

/** The first of `paths` that has text, or null. */
export function firstText(node: XmlNode | undefined, ...paths: string[]): string | null {
  for (const p of paths) {
    const t = text(node, p);
    if (t !== null) return t;
  }
  return null;
}
