/**
 * Streaming reader of camt.052/053/054 XML with saxes: the document is fed chunk by chunk and
 * emitted as events (message header, report header, each balance, each entry, report end), one
 * bounded element tree at a time, so a statement of 100K entries never sits in memory whole.
 * A DOCTYPE is refused (no entity expansion); the Document's namespace decides family and version.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { DecodeError } from '../lib/errors.js';
import { camtVersionOf, type CamtVersion } from './camtVersions.js';
import type { XmlNode } from './xmlNode.js';

export type CamtEvent =
  /** The Document's version and its group header (GrpHdr). */
  | { t: 'message'; version: CamtVersion; groupHeader: XmlNode }
  /** One Stmt/Rpt/Ntfctn's own elements before its balances and entries (Id, sequence numbers, Acct, FrToDt…). */
  | { t: 'report'; header: XmlNode; index: number }
  | { t: 'balance'; node: XmlNode }
  /** One Ntry; `index` counts entries from 0 within the report. */
  | { t: 'entry'; node: XmlNode; index: number }
  | { t: 'reportEnd' };

/** Deepest element accepted; camt entries nest about 12 deep. */
const MAX_DEPTH = 64;

export interface CamtReaderOptions {
  /** Name of the input in error messages (a file path, a subject). */
  name?: string;
}

/**
 * Reads `chunks` (bytes or text, e.g. a `fs.createReadStream`) as a camt message and yields its
 * events in document order. Throws `DecodeError` for XML that is not well formed, a DOCTYPE, a
 * namespace that is not a supported camt version, or a document that ends early.
 */
export async function* readCamt(chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: CamtReaderOptions = {}): AsyncGenerator<CamtEvent> {
  const name = options.name ?? 'camt message';
  const parser = new SaxesParser({ xmlns: true, position: true });
  const pending: CamtEvent[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let version: CamtVersion | undefined;
  let depth = 0;
  /** Subtree being captured: its root's depth and the open elements' stack. */
  let capture: { rootDepth: number; stack: XmlNode[] } | undefined;
  let reportHeader: XmlNode | undefined;
  let reportHeaderSent = false;
  let reportIndex = -1;
  let entryIndex = 0;
  let sawMessage = false;
  let ended = false;

  const fail = (message: string, details?: string): never => {
    throw new DecodeError(`${name}: ${message}`, { details: `line ${parser.line}, column ${parser.column}${details ? `; ${details}` : ''}` });
  };
  parser.on('error', (e) => fail(`not well-formed XML (${e.message.replace(/^(?:[^:]*:)?\d+:\d+: /, '')}).`));
  parser.on('doctype', () => fail('has a DOCTYPE; camt messages have none and entity declarations are refused.'));

  const sendReportHeader = () => {
    if (reportHeader && !reportHeaderSent) {
      pending.push({ t: 'report', header: reportHeader, index: reportIndex });
      reportHeaderSent = true;
    }
  };

  parser.on('opentag', (tag: SaxesTagNS) => {
    depth++;
    if (depth > MAX_DEPTH) fail(`nests deeper than ${MAX_DEPTH} elements.`);
    const local = tag.local;
    if (capture) {
      const node: XmlNode = { name: local, attrs: attrsOf(tag), text: '', children: [] };
      capture.stack[capture.stack.length - 1]!.children.push(node);
      capture.stack.push(node);
      return;
    }
    if (depth === 1) {
      if (local !== 'Document') fail(`root element is <${tag.name}>, expected <Document>.`);
      version = camtVersionOf(tag.uri);
      return;
    }
    if (tag.uri !== version!.namespace) fail(`element <${tag.name}> is outside the Document's namespace ${version!.namespace}.`);
    if (depth === 2) {
      if (local !== version!.messageElement) fail(`<Document> of ${version!.family} holds <${local}>, expected <${version!.messageElement}>.`);
      sawMessage = true;
      return;
    }
    if (depth === 3) {
      if (local === version!.reportElement) {
        reportIndex++;
        entryIndex = 0;
        reportHeader = { name: local, attrs: {}, text: '', children: [] };
        reportHeaderSent = false;
        return;
      }
      // GrpHdr (and any supplementary data) is captured whole.
      capture = { rootDepth: depth, stack: [{ name: local, attrs: attrsOf(tag), text: '', children: [] }] };
      return;
    }
    if (depth === 4 && reportHeader) {
      const node: XmlNode = { name: local, attrs: attrsOf(tag), text: '', children: [] };
      if (local === 'Bal' || local === 'Ntry' || local === 'TxsSummry') sendReportHeader();
      else if (!reportHeaderSent) reportHeader.children.push(node);
      capture = { rootDepth: depth, stack: [node] };
    }
  });

  parser.on('text', (t) => {
    if (capture) {
      const top = capture.stack[capture.stack.length - 1]!;
      top.text += t;
    } else if (t.trim() !== '' && depth > 0) {
      fail(`unexpected text '${t.trim().slice(0, 40)}' outside the camt elements.`);
    }
  });

  parser.on('closetag', (tag) => {
    if (capture) {
      const node = capture.stack.pop()!;
      node.text = node.text.trim();
      if (depth === capture.rootDepth) {
        capture = undefined;
        if (depth === 3 && node.name === 'GrpHdr') pending.push({ t: 'message', version: version!, groupHeader: node });
        else if (depth === 4 && node.name === 'Bal') pending.push({ t: 'balance', node });
        else if (depth === 4 && node.name === 'Ntry') pending.push({ t: 'entry', node, index: entryIndex++ });
      }
    } else if (depth === 3 && reportHeader && tag.local === version!.reportElement) {
      sendReportHeader();
      pending.push({ t: 'reportEnd' });
      reportHeader = undefined;
    } else if (depth === 1) {
      ended = true;
    }
    depth--;
  });

  const feed = (s: string) => {
    parser.write(s);
  };
  for await (const chunk of chunks) {
    if (typeof chunk === 'string') feed(chunk);
    else {
      let s: string;
      try {
        s = decoder.decode(chunk, { stream: true });
      } catch (cause) {
        throw new DecodeError(`${name}: is not valid UTF-8.`, { cause });
      }
      feed(s);
    }
    if (pending.length > 0) {
      yield* pending.splice(0);
    }
  }
  try {
    feed(decoder.decode());
  } catch (cause) {
    if (cause instanceof DecodeError) throw cause;
    throw new DecodeError(`${name}: is not valid UTF-8.`, { cause });
  }
  parser.close();
  if (!ended) fail('ends before </Document>: truncated.');
  if (!sawMessage) fail('has an empty <Document>.');
  yield* pending.splice(0);
}

/** Shared by every element without attributes (most of them): never written to. */
const NO_ATTRS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function attrsOf(tag: SaxesTagNS): Record<string, string> {
  let out = NO_ATTRS;
  for (const name in tag.attributes) {
    const a = tag.attributes[name]!;
    // xmlns declarations are namespace bindings, not data.
    if (a.prefix === 'xmlns' || a.local === 'xmlns') continue;
    if (out === NO_ATTRS) out = {};
    out[a.local] = a.value;
  }
  return out;
}
