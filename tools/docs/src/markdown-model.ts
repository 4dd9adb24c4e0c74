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
  // marked recurses once per level, so thousands of markers on one line exhaust its stack.
  if (deepestLineNesting(content) > MAX_NESTING) return { ok: false, error: NESTING_ERROR };
  if (mostDelimiterRunsInBlock(content) > MAX_DELIMITER_RUNS_PER_BLOCK) {
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

const FENCE = /^ {0,3}(?:```|~~~)/;
/** marked's delimiter matching is quadratic in the markers of one paragraph; real prose has few. */
export const MAX_DELIMITER_RUNS_PER_BLOCK = 1000;
const DELIMITER_RUN = /[*_~]+/g;

/** The most runs of `*`, `_` or `~` in one blank-line-separated block, outside fenced code. */
export function mostDelimiterRunsInBlock(content: string): number {
  let most = 0;
  let current = 0;
  let fenced = false;
  for (const line of content.split("\n")) {
    if (FENCE.test(line)) fenced = !fenced;
    if (fenced) continue;
    if (line.trim() === "") {
      current = 0;
      continue;
    }
    current += line.match(DELIMITER_RUN)?.length ?? 0;
    most = Math.max(most, current);
  }
  return most;
}
const THEMATIC_BREAK = /^([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const ORDERED_MARKER = /^\d{1,9}[.)](?=[ \t]|$)/;

/**
 * The most quote and list markers any line opens with ("> > - 1. text" opens four levels), outside
 * fenced code. Nesting by indentation alone costs quadratic characters, so the content limit bounds
 * it; this cheap scan catches the marker form before marked sees it.
 */
export function deepestLineNesting(content: string): number {
  let deepest = 0;
  let fenced = false;
  for (const line of content.split("\n")) {
    if (FENCE.test(line)) fenced = !fenced;
    if (fenced) continue;
    let depth = 0;
    let rest = line;
    for (;;) {
      rest = rest.replace(/^[ \t]+/, "");
      if (rest.startsWith(">")) {
        rest = rest.slice(1);
      } else if (/^[-+*](?=[ \t]|$)/.test(rest) && !THEMATIC_BREAK.test(rest)) {
        rest = rest.slice(1);
      } else {
        const ordered = ORDERED_MARKER.exec(rest);
        if (ordered === null) break;
        rest = rest.slice(ordered[0].length);
      }
      depth += 1;
      if (depth > MAX_NESTING) return depth;
    }
    deepest = Math.max(deepest, depth);
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
