import { extractText } from "unpdf";
import { describe, expect, it } from "vitest";
import { generateDocument, generateDocumentTool } from "../src/generate-document.ts";
import {
  MAX_LIST_PARAGRAPH_LINES,
  lineNestingBound,
  measureMarkdown,
} from "../src/markdown-model.ts";
import { toolErrorOf as errorOf } from "../../kit/src/testing.ts";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
function unbrokenWord(length: number): string {
  return Array.from({ length }, (_, index) => ALPHABET[index % ALPHABET.length]).join("");
}

async function pdfText(content: string, title = "Long words") {
  const generated = await generateDocument({ format: "pdf", title, content });
  if (!generated.ok) throw new Error(generated.error);
  const { text } = await extractText(new Uint8Array(generated.bytes), { mergePages: true });
  return { output: generated.output, bytes: generated.bytes, text };
}

describe("long unbroken words in PDFs", () => {
  it("lays out a 199 000-character word in linear time, on full lines", async () => {
    const word = unbrokenWord(199_000);
    const { output, text } = await pdfText(word);
    // About 75 characters a line and 52 lines a page: ~50 pages; quadratic layout took minutes.
    expect(output.pageCount).toBeGreaterThan(30);
    expect(output.pageCount).toBeLessThan(80);
    const lines = text.split("\n").slice(1);
    expect(lines[0]).toBe(word.slice(0, lines[0]!.length));
    expect(lines[0]!.length).toBeGreaterThan(60);
    expect(lines.join("")).toBe(word);
  });

  it("breaks long words in code blocks, inline code, links, headings, table cells and the title", async () => {
    const word = unbrokenWord(3_000);
    const content = [
      `# ${word}`,
      `text \`${word}\` and [${word}](https://example.com/x)`,
      "```",
      word,
      "```",
      "| a | b |",
      "|---|---|",
      `| ${word} | x |`,
    ].join("\n");
    const { text } = await pdfText(content, unbrokenWord(300));
    const joined = text.replace(/\s+/g, "");
    expect(joined.startsWith(unbrokenWord(300))).toBe(true);
    // Five copies of the word survive the cuts, in order.
    expect(joined.split(word).length - 1).toBeGreaterThanOrEqual(5);
  });
});

describe("markdown nesting is checked before marked recurses", () => {
  it.each([
    [">".repeat(5000) + " a", "content nests lists or quotes deeper than 20 levels"],
    ["> ".repeat(21) + "a", "content nests lists or quotes deeper than 20 levels"],
    ["- ".repeat(5000) + "a", "content nests lists or quotes deeper than 20 levels"],
    ["1. ".repeat(5000) + "a", "content nests lists or quotes deeper than 20 levels"],
    [
      "text\n" + "> - 1) ".repeat(2000) + "a",
      "content nests lists or quotes deeper than 20 levels",
    ],
    [
      "*".repeat(5_000) + "a" + "*".repeat(5_000),
      "content nests emphasis, links or other inline markup too deeply to parse",
    ],
  ])("refuses %#", async (content, message) => {
    expect(await errorOf(generateDocumentTool, { format: "html", title: "t", content })).toBe(
      message,
    );
  });

  it.each([
    ["a thematic break made of many dashes", "- ".repeat(40) + "\n\ntext", 0],
    ["markers inside fenced code", "```\n" + "> ".repeat(40) + "\n```", 0],
    ["twenty levels", "> ".repeat(20) + "a", 20],
    ["mixed markers", "> - 1. 2) + * text", 6],
    ["no space after the marker", "-1 *bold* 1.5", 0],
    ["two columns of indentation per level", "      - a", 4],
    ["a tab as four columns", "\t\t- a", 5],
    ["indentation inside a quote", ">     - a", 4],
  ])("bounds %s", (_name, content, depth) => {
    expect(measureMarkdown(content).nestingBound).toBe(depth);
  });

  it("stops counting a line once it is over the bound", () => {
    expect(lineNestingBound("> ".repeat(100_000))).toBe(41);
  });

  it("still renders twenty levels of quotes", async () => {
    const generated = await generateDocument({
      format: "html",
      title: "t",
      content: "> ".repeat(20) + "deep",
    });
    expect(generated.ok).toBe(true);
  });
});

const NESTING_ERROR = "content nests lists or quotes deeper than 20 levels";
const LIST_PARAGRAPH_ERROR = `content has more than ${MAX_LIST_PARAGRAPH_LINES} lines in a row inside a list with no blank line between them; separate paragraphs with blank lines or move long text out of the list`;

/** `count` lines made by `line`, newline-terminated. */
function lines(count: number, line: (index: number) => string): string {
  return Array.from({ length: count }, (_, index) => `${line(index)}\n`).join("");
}

/** The content-size limit's worth of lines: what a hostile caller would send. */
function linesUpTo(limit: number, line: (index: number) => string): string {
  let out = "";
  for (let index = 0; out.length < limit; index += 1) out += `${line(index)}\n`;
  return out.slice(0, limit);
}

describe("nesting by indentation alone is bounded before marked lexes it", () => {
  // Before the bound these took 2-8 s of one core each (marked re-lexes every level).
  it.each([
    ["each line one tab deeper", linesUpTo(200_000, (i) => "\t".repeat(i) + "- a")],
    [
      "each line one tab deeper, blank lines between",
      linesUpTo(200_000, (i) => "\t".repeat(i) + "- a\n"),
    ],
    [
      "each line two spaces deeper, blank lines between",
      linesUpTo(200_000, (i) => "  ".repeat(i) + "- a\n"),
    ],
    ["ordered items three spaces deeper", linesUpTo(200_000, (i) => "   ".repeat(i) + "1. a\n")],
    [
      "a quote whose lists nest by indentation",
      linesUpTo(200_000, (i) => ">" + "  ".repeat(i) + "- a\n"),
    ],
  ])("refuses %s in well under a second", async (_name, content) => {
    const started = performance.now();
    expect(await errorOf(generateDocumentTool, { format: "html", title: "t", content })).toBe(
      NESTING_ERROR,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it.each([
    ["two spaces", "  "],
    ["four spaces", "    "],
    ["tabs", "\t"],
  ])("still renders twenty levels indented with %s", async (_name, unit) => {
    const content = lines(20, (i) => unit.repeat(i) + "- level " + String(i + 1));
    const generated = await generateDocument({ format: "html", title: "t", content });
    if (!generated.ok) throw new Error(generated.error);
    expect(new TextDecoder().decode(generated.bytes).match(/<ul>/g)).toHaveLength(20);
  });
});

describe("long paragraphs inside list items are bounded before marked's quadratic scan", () => {
  const over = MAX_LIST_PARAGRAPH_LINES + 1;
  it.each([
    ["lazy continuation lines", "- a\n" + lines(over, () => "b")],
    ["indented continuation lines", "- a\n" + lines(over, () => "  b")],
    ["a second paragraph of the item", "- a\n\n" + lines(over, () => "  b")],
    ["lazy lines under a nested item", "- a\n  - b\n" + lines(over, () => "c")],
    ["lazy lines in a quoted list", "> - a\n" + lines(over, () => "> b")],
    ["lines that only look like headings", "- a\n" + lines(over, () => "#b")],
    [
      "a fence that marked does not take as one",
      "- a\n" + "      ```\n" + lines(over, () => "  b"),
    ],
    ["the whole content limit of them", "- a\n" + linesUpTo(199_000, () => "b")],
  ])("refuses %s", async (_name, content) => {
    const started = performance.now();
    expect(await errorOf(generateDocumentTool, { format: "html", title: "t", content })).toBe(
      LIST_PARAGRAPH_ERROR,
    );
    // 100 000 lazy lines took minutes before the bound, 25 000 about 3 s.
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it.each([
    ["exactly the limit of lines", "- a\n" + lines(MAX_LIST_PARAGRAPH_LINES - 1, () => "b")],
    ["a long tight list", lines(3_000, (i) => `- item ${i}`)],
    ["a long nested tight list", "- a\n" + lines(3_000, (i) => `  - item ${i}`)],
    ["lazy lines that look like ordered items", "- a\n" + lines(3_000, () => "2. b")],
    [
      "a long fenced code block in a list item",
      "1. a\n   ```\n" + lines(3_000, () => "   x = 1") + "   ```\n",
    ],
    ["a long paragraph outside any list", "- a\n\n" + lines(3_000, () => "b")],
    [
      "a long table after a list",
      "- a\n\n| x | y |\n|---|---|\n" + lines(3_000, () => "| 1 | 2 |"),
    ],
  ])("accepts %s", async (_name, content) => {
    const generated = await generateDocument({ format: "html", title: "t", content });
    if (!generated.ok) throw new Error(generated.error);
  });
});

describe("fenced code hides nothing that marked parses", () => {
  const bomb = "~~a ".repeat(30_000) + "b" + "~~".repeat(30_000);
  // Each of these once hid the markers from the count, and marked then ran for three minutes.
  it.each([
    ["an opening fence whose info string has a backtick", "```x`\n"],
    ["a shorter fence inside a longer one", "````\n```\nx\n````\n"],
    ["a fence in a list item the next line leaves", "- a\n  ```\n"],
    ["a fence inside an HTML block", "<div>\n```\n\n"],
    ["a fence inside an HTML comment", "<!--\n\n```\n-->\n\n"],
    ["a fence inside a link definition's title", '[a]: /u "t\n```\n"\n\n'],
  ])("counts the markers after %s", async (_name, prefix) => {
    const started = performance.now();
    const content = (prefix + bomb).slice(0, 200_000);
    expect(await errorOf(generateDocumentTool, { format: "html", title: "t", content })).toBe(
      "content has more than 1000 emphasis or strikethrough markers (*, _, ~) in one paragraph",
    );
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("skips the markers of real fenced code, closed by a matching fence", () => {
    const code = "x = a_b * c_d ~ e\n".repeat(400);
    expect(measureMarkdown("````py\n" + code + "```\n" + code + "````\n").mostDelimiterRuns).toBe(
      0,
    );
    expect(measureMarkdown("~~~\n" + code + "~~~\n").mostDelimiterRuns).toBe(0);
  });
});

describe("emphasis markers are bounded before marked's quadratic matching", () => {
  it("refuses a paragraph with thousands of strikethrough openers", async () => {
    const content = "~~a ".repeat(30_000) + "b" + "~~".repeat(30_000);
    expect(await errorOf(generateDocumentTool, { format: "html", title: "t", content })).toBe(
      "content has more than 1000 emphasis or strikethrough markers (*, _, ~) in one paragraph",
    );
  });

  it("counts per paragraph and ignores fenced code", async () => {
    const paragraph = "*a* ".repeat(400);
    const content = [paragraph, paragraph, "```", "*".repeat(10) + " x ".repeat(3000), "```"].join(
      "\n\n",
    );
    expect(measureMarkdown(content).mostDelimiterRuns).toBe(800);
    const result = await generateDocument({ format: "html", title: "t", content });
    expect(result.ok).toBe(true);
  });
});

describe("cancellation", () => {
  it("does not render for a call that is already cancelled", async () => {
    const controller = new AbortController();
    controller.abort();
    const generated = await generateDocument(
      { format: "pdf", title: "t", content: "x" },
      controller.signal,
    );
    expect(generated).toEqual({ ok: false, error: "document generation was cancelled" });
  });

  it("stops a PDF between blocks once the client has gone", async () => {
    const controller = new AbortController();
    // Runs at the renderer's first yield to the event loop, i.e. in the middle of the layout.
    setImmediate(() => controller.abort());
    const generated = await generateDocument(
      { format: "pdf", title: "t", content: "paragraph text\n\n".repeat(4_000) },
      controller.signal,
    );
    expect(generated).toEqual({ ok: false, error: "document generation was cancelled" });
  });
});
