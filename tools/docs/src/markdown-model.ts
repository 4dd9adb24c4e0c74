import { Lexer, type Token, type Tokens } from "marked";

/**
 * The document model every renderer consumes: Markdown is parsed once with marked into tokens and
 * reduced to the few block and inline shapes the formats support. Raw HTML in the content becomes
 * plain text here, and links keep only safe schemes, so no renderer can emit active content.
 */

export interface TextRun {
  kind: "text";
  text: string;
  bold: boolean;
  italic: boolean;
  code: boolean;
  strike: boolean;
  href?: string;
}
export type Run = TextRun | { kind: "break" };

export type Alignment = "left" | "center" | "right" | null;

export type Block =
  | { type: "heading"; level: 1 | 2 | 3 | 4 | 5 | 6; runs: Run[] }
  | { type: "paragraph"; runs: Run[] }
  | { type: "code"; text: string; language?: string }
  | { type: "list"; ordered: boolean; start: number; items: Block[][] }
  | { type: "table"; align: Alignment[]; header: Run[][]; rows: Run[][][] }
  | { type: "quote"; blocks: Block[] }
  | { type: "rule" };

export const MAX_NESTING = 20;

type Style = Pick<TextRun, "bold" | "italic" | "code" | "strike"> & { href?: string };
const PLAIN: Style = { bold: false, italic: false, code: false, strike: false };

/** Only links a reader can follow without running anything: web, mail and in-document anchors. */
export function safeHref(href: string): string | undefined {
  const trimmed = href.trim();
  if (
    /^https?:\/\/[^\s]+$/i.test(trimmed) ||
    /^mailto:[^\s]+$/i.test(trimmed) ||
    /^#[\w.-]*$/.test(trimmed)
  ) {
    return trimmed;
  }
  return undefined;
}

export type ParsedMarkdown = { ok: true; blocks: Block[] } | { ok: false; error: string };

class NestingTooDeep extends Error {}

const NESTING_ERROR = `content nests lists or quotes deeper than ${MAX_NESTING} levels`;

export function parseMarkdown(content: string): ParsedMarkdown {
  // Every bound is checked on a cheap linear scan before marked sees the content: each one stands
  // for an input on which marked's own work grows faster than the content.
  const shape = measureMarkdown(content);
  if (shape.nestingBound > MAX_NESTING_BOUND) return { ok: false, error: NESTING_ERROR };
  if (shape.longestListParagraph > MAX_LIST_PARAGRAPH_LINES) {
    return {
      ok: false,
      error: `content has more than ${MAX_LIST_PARAGRAPH_LINES} lines in a row inside a list with no blank line between them; separate paragraphs with blank lines or move long text out of the list`,
    };
  }
  if (shape.mostDelimiterRuns > MAX_DELIMITER_RUNS_PER_BLOCK) {
    return {
      ok: false,
      error: `content has more than ${MAX_DELIMITER_RUNS_PER_BLOCK} emphasis or strikethrough markers (*, _, ~) in one paragraph`,
    };
  }
  let tokens: Token[];
  try {
    tokens = new Lexer({ gfm: true, breaks: false }).lex(content);
  } catch (error) {
    // Deeply nested emphasis ("**a **a **a …") recurses in marked's inline lexer as well.
    if (error instanceof RangeError) {
      return {
        ok: false,
        error: "content nests emphasis, links or other inline markup too deeply to parse",
      };
    }
    throw error;
  }
  try {
    return { ok: true, blocks: toBlocks(tokens, 0) };
  } catch (error) {
    if (error instanceof NestingTooDeep) return { ok: false, error: NESTING_ERROR };
    throw error;
  }
}

/**
 * marked lexes each list or quote level again for the level inside it, so its work grows with
 * nesting depth times content; nesting by indentation alone (each line one level deeper) took
 * 2-8 s. The scan below bounds the depth from markers and indentation, which overestimates real
 * nesting by up to twice (4-space or tab indentation), hence the slack over MAX_NESTING; the exact
 * limit is applied to marked's tokens afterwards.
 */
export const MAX_NESTING_BOUND = MAX_NESTING * 2;
/**
 * marked re-scans the rest of a paragraph inside a list item at each of its lines (looking for a
 * setext heading underline), which is quadratic in the paragraph's lines: 25 000 lazy continuation
 * lines under one item took 6-10 s, 50 000 took 31 s.
 */
export const MAX_LIST_PARAGRAPH_LINES = 500;
/** marked's delimiter matching is quadratic in the markers of one paragraph; real prose has few. */
export const MAX_DELIMITER_RUNS_PER_BLOCK = 1000;

export interface MarkdownShape {
  /** An upper bound of the list and quote nesting of any line (see MAX_NESTING_BOUND). */
  nestingBound: number;
  /** The most lines in a row inside a list that one marked paragraph scan can cover. */
  longestListParagraph: number;
  /** The most runs of `*`, `_` or `~` in one blank-line-separated block. */
  mostDelimiterRuns: number;
}

const DELIMITER_RUN = /[*_~]+/g;
const THEMATIC_BREAK = /^([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const LIST_MARKER = /(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$)/y;
const BLANK = /^[ \t]*$/;
const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;
/**
 * Lines that end marked's paragraph scan wherever they stand (its lookahead for list items, fences
 * and headings); a quote marker is not one of them, since inside a quote marked has removed it.
 */
const ENDS_PARAGRAPH_SCAN = /^ {0,3}(?:(?:[*+-]|\d{1,9}[.)]) |`{3,}|~{3,}|#{1,6}(?:[ \t]|$))/;
/** HTML blocks that run to an end marker, possibly across blank lines (CommonMark types 1-5). */
const RAW_HTML_BLOCKS: readonly (readonly [RegExp, RegExp])[] = [
  [/^<(?:script|pre|style|textarea)(?:[\s>]|$)/i, /<\/(?:script|pre|style|textarea)>/i],
  [/^<!--/, /-->/],
  [/^<\?/, /\?>/],
  [/^<![A-Za-z]/, />/],
  [/^<!\[CDATA\[/, /\]\]>/],
];

/**
 * One linear pass over the lines. Fenced code is skipped (its markers and lines are not Markdown),
 * but only where marked is sure to read a fence too: a fence line inside what may be an HTML block
 * or a link definition's title is not taken as one, and a fence ends at a line indented less than
 * its opening line (its list item may have ended there). Every doubt counts a line as Markdown: a
 * skipped line that marked parses would let "```x`" in front of a hostile paragraph hide it.
 */
export function measureMarkdown(content: string): MarkdownShape {
  const shape: MarkdownShape = { nestingBound: 0, longestListParagraph: 0, mostDelimiterRuns: 0 };
  let fence: { char: string; length: number; indent: number } | undefined;
  let htmlUntil: RegExp | "blank" | undefined;
  let maybeDefinition = false;
  let inList = false;
  let afterBlank = true;
  let paragraphLines = 0;
  let delimiterRuns = 0;

  for (const line of content.replace(/\r\n?/g, "\n").split("\n")) {
    const blank = BLANK.test(line);
    if (fence !== undefined) {
      const close = FENCE_CLOSE.exec(line)?.[1];
      if (close !== undefined && close[0] === fence.char && close.length >= fence.length) {
        fence = undefined;
        paragraphLines = 0;
        continue;
      }
      if (blank || leadingSpaces(line) >= fence.indent) continue;
      fence = undefined;
    }

    const inner = afterContainerMarkers(line);
    if (htmlUntil !== undefined) {
      if (htmlUntil === "blank" ? blank : htmlUntil.test(line)) htmlUntil = undefined;
    } else if (/^<[A-Za-z/!?]/.test(inner)) {
      const raw = RAW_HTML_BLOCKS.find(([start]) => start.test(inner));
      htmlUntil = raw === undefined ? "blank" : raw[1].test(inner) ? undefined : raw[1];
    }
    if (blank) maybeDefinition = false;
    else if (inner.startsWith("[")) maybeDefinition = true;

    const opening = htmlUntil === undefined && !maybeDefinition ? FENCE_OPEN.exec(line) : null;
    if (opening !== null) {
      const [, indent = "", marker = "", info = ""] = opening;
      if (!(marker.startsWith("`") && info.includes("`"))) {
        fence = { char: marker.charAt(0), length: marker.length, indent: indent.length };
        paragraphLines = 0;
        continue;
      }
    }

    shape.nestingBound = Math.max(shape.nestingBound, lineNestingBound(line));

    const quoted = withoutQuoteMarkers(line);
    if (BLANK.test(quoted)) {
      paragraphLines = 0;
      delimiterRuns = 0;
      afterBlank = true;
      continue;
    }
    if (startsWithListMarker(quoted)) inList = true;
    // A paragraph starting in the first column after a blank line closes every open list.
    else if (afterBlank && !/^[ \t>]/.test(line)) inList = false;
    afterBlank = false;
    paragraphLines = !inList ? 0 : ENDS_PARAGRAPH_SCAN.test(quoted) ? 1 : paragraphLines + 1;
    shape.longestListParagraph = Math.max(shape.longestListParagraph, paragraphLines);

    delimiterRuns += line.match(DELIMITER_RUN)?.length ?? 0;
    shape.mostDelimiterRuns = Math.max(shape.mostDelimiterRuns, delimiterRuns);
  }
  return shape;
}

function leadingSpaces(line: string): number {
  return /^ */.exec(line)?.[0].length ?? 0;
}

/** The line without the blockquote markers (each with up to three spaces before it) it opens with. */
function withoutQuoteMarkers(line: string): string {
  return line.replace(/^(?: {0,3}>[ ]?)+/, "");
}

function startsWithListMarker(text: string): boolean {
  const rest = text.replace(/^[ \t]+/, "");
  LIST_MARKER.lastIndex = 0;
  return LIST_MARKER.test(rest) && !THEMATIC_BREAK.test(rest);
}

// One pass over the line, without backtracking: never re-sliced marker by marker.
const CONTAINER_MARKERS = /^(?:[ \t]*(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$)))*[ \t]*/;

/** What follows the quote markers, list markers and whitespace a line opens with. */
function afterContainerMarkers(line: string): string {
  return line.slice(CONTAINER_MARKERS.exec(line)?.[0].length ?? 0);
}

/**
 * An upper bound of the containers (lists, quotes) open at the deepest marker of the line: each
 * marker opens one, and each container continued from an earlier line needs its own `>` or at
 * least two columns of indentation (a list item's content starts at least two columns after its
 * marker). Tabs advance to the next multiple of four columns; the one space a marker takes after
 * itself is not counted as indentation.
 */
export function lineNestingBound(line: string): number {
  let column = 0;
  let indentation = 0;
  let markers = 0;
  let deepest = 0;
  let index = 0;
  while (index < line.length && deepest <= MAX_NESTING_BOUND) {
    const char = line[index];
    if (char === " ") {
      column += 1;
      indentation += 1;
      index += 1;
      continue;
    }
    if (char === "\t") {
      const width = 4 - (column % 4);
      column += width;
      indentation += width;
      index += 1;
      continue;
    }
    let length = 0;
    if (char === ">") {
      length = 1;
    } else {
      LIST_MARKER.lastIndex = index;
      const marker = LIST_MARKER.exec(line);
      if (marker === null) break;
      if (marker[0].length === 1 && THEMATIC_BREAK.test(line.slice(index))) break;
      length = marker[0].length;
    }
    markers += 1;
    index += length;
    column += length;
    if (line[index] === " ") {
      index += 1;
      column += 1;
    }
    deepest = Math.max(deepest, markers + Math.floor(indentation / 2));
  }
  return deepest;
}

function toBlocks(tokens: Token[], depth: number): Block[] {
  if (depth > MAX_NESTING) throw new NestingTooDeep();
  const blocks: Block[] = [];
  for (const token of tokens) {
    const block = toBlock(token, depth);
    if (block !== undefined) blocks.push(block);
  }
  return blocks;
}

function toBlock(token: Tokens.Generic, depth: number): Block | undefined {
  switch (token.type) {
    case "heading": {
      const heading = token as Tokens.Heading;
      const level = Math.min(Math.max(heading.depth, 1), 6) as 1 | 2 | 3 | 4 | 5 | 6;
      return { type: "heading", level, runs: toRuns(heading.tokens, PLAIN) };
    }
    case "paragraph":
      return { type: "paragraph", runs: toRuns((token as Tokens.Paragraph).tokens, PLAIN) };
    case "text": {
      const text = token as Tokens.Text;
      return {
        type: "paragraph",
        runs: text.tokens ? toRuns(text.tokens, PLAIN) : [plain(text.text)],
      };
    }
    case "code": {
      const code = token as Tokens.Code;
      const language = /^[\w+#.-]{1,32}$/.test(code.lang ?? "") ? code.lang : undefined;
      return language === undefined
        ? { type: "code", text: code.text }
        : { type: "code", text: code.text, language };
    }
    case "list": {
      const list = token as Tokens.List;
      const start =
        typeof list.start === "number" && Number.isSafeInteger(list.start) ? list.start : 1;
      const items = list.items.map((item) => {
        const children = item.tokens.filter((child) => child.type !== "checkbox");
        const blocks = toBlocks(children, depth + 1);
        if (item.task) {
          const marker = plain(item.checked === true ? "[x] " : "[ ] ");
          const first = blocks[0];
          if (first?.type === "paragraph") first.runs.unshift(marker);
          else blocks.unshift({ type: "paragraph", runs: [marker] });
        }
        return blocks;
      });
      return { type: "list", ordered: list.ordered, start, items };
    }
    case "table": {
      const table = token as Tokens.Table;
      return {
        type: "table",
        align: table.align.map((a) => a ?? null),
        header: table.header.map((cell) => toRuns(cell.tokens, PLAIN)),
        rows: table.rows.map((row) => row.map((cell) => toRuns(cell.tokens, PLAIN))),
      };
    }
    case "blockquote":
      return { type: "quote", blocks: toBlocks((token as Tokens.Blockquote).tokens, depth + 1) };
    case "hr":
      return { type: "rule" };
    case "html":
      // Raw HTML is shown as the text it is, never interpreted.
      return { type: "paragraph", runs: [plain(String(token.text ?? token.raw).trim())] };
    case "space":
    case "def":
      return undefined;
    default:
      return typeof token.raw === "string" && token.raw.trim() !== ""
        ? { type: "paragraph", runs: [plain(token.raw.trim())] }
        : undefined;
  }
}

function toRuns(tokens: Token[] | undefined, style: Style): Run[] {
  const runs: Run[] = [];
  for (const raw of tokens ?? []) {
    const token = raw as Tokens.Generic;
    switch (token.type) {
      case "text":
        if (Array.isArray(token.tokens) && token.tokens.length > 0)
          runs.push(...toRuns(token.tokens, style));
        else runs.push(styled(String(token.text), style));
        break;
      case "escape":
      case "html":
        runs.push(styled(String(token.text), style));
        break;
      case "codespan":
        runs.push(styled(String(token.text), { ...style, code: true }));
        break;
      case "strong":
        runs.push(...toRuns(token.tokens, { ...style, bold: true }));
        break;
      case "em":
        runs.push(...toRuns(token.tokens, { ...style, italic: true }));
        break;
      case "del":
        runs.push(...toRuns(token.tokens, { ...style, strike: true }));
        break;
      case "link": {
        const href = safeHref(String(token.href));
        const { href: _outer, ...rest } = style;
        runs.push(...toRuns(token.tokens, href === undefined ? rest : { ...rest, href }));
        break;
      }
      case "image":
        // Images are not fetched (no network, deterministic output): the alt text stands in.
        runs.push(styled(`[image: ${String(token.text)}]`, style));
        break;
      case "br":
        runs.push({ kind: "break" });
        break;
      default:
        if (typeof token.raw === "string") runs.push(styled(token.raw, style));
    }
  }
  return runs;
}

function styled(text: string, style: Style): TextRun {
  const run: TextRun = { kind: "text", text, ...PLAIN, ...style };
  if (style.href === undefined) delete run.href;
  return run;
}

function plain(text: string): TextRun {
  return { kind: "text", text, ...PLAIN };
}
