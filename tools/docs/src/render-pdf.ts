import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import PDFDocument from "pdfkit";
import { FIXED_DOCUMENT_DATE, MAX_PDF_PAGES, type DocumentMetadata } from "./document-request.ts";
import type { Block, Run, TextRun } from "./markdown-model.ts";

/**
 * DejaVu covers Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic and many symbols; the
 * fonts come from an npm package (no binaries in the repository) and are embedded as subsets.
 */
const require = createRequire(import.meta.url);
function font(file: string): Buffer {
  return readFileSync(require.resolve(`dejavu-fonts-ttf/ttf/${file}`));
}
const FONTS = {
  sans: font("DejaVuSans.ttf"),
  sansBold: font("DejaVuSans-Bold.ttf"),
  sansItalic: font("DejaVuSans-Oblique.ttf"),
  sansBoldItalic: font("DejaVuSans-BoldOblique.ttf"),
  mono: font("DejaVuSansMono.ttf"),
  monoBold: font("DejaVuSansMono-Bold.ttf"),
} as const;
type FontName = keyof typeof FONTS;

const MARGIN = 56;
const BODY_SIZE = 10.5;
const HEADING_SIZES = [18, 15, 13, 12, 11, 10.5] as const;
const LINK_COLOR = "#1a4f9c";
const TEXT_COLOR = "#1a1a1a";

export type PdfRendered =
  { ok: true; bytes: Uint8Array; pageCount: number } | { ok: false; error: string };

class PageLimitReached extends Error {}

/**
 * pdfkit re-measures the rest of a word each time it breaks one that is wider than the line, which
 * is quadratic in the word's length (a 200 000-character word takes minutes and gigabytes). Runs of
 * more than MAX_UNBROKEN_CHARS non-space characters are therefore cut here, with line breaks, into
 * pieces that fill at most LINE_FILL of the width, so pdfkit never has to break a word itself.
 * Shorter words are left exactly as they are, and the cut is a pure function of text, font and width.
 */
export const MAX_UNBROKEN_CHARS = 100;
const LINE_FILL = 0.9;
const LONG_UNBROKEN = new RegExp(`\\S{${MAX_UNBROKEN_CHARS + 1},}`, "gu");
const HAS_LONG_UNBROKEN = new RegExp(LONG_UNBROKEN.source, "u");

/** `text` with its long unbroken runs cut to `width` in the document's current font and size. */
function breakLongRuns(doc: PDFKit.PDFDocument, text: string, width: number): string {
  if (!HAS_LONG_UNBROKEN.test(text)) return text;
  const limit = width * LINE_FILL;
  const widths = new Map<string, number>();
  return text.replace(LONG_UNBROKEN, (run) => {
    const lines: string[] = [];
    let line = "";
    let lineWidth = 0;
    for (const char of run) {
      let charWidth = widths.get(char);
      if (charWidth === undefined) {
        charWidth = doc.widthOfString(char);
        widths.set(char, charWidth);
      }
      if (line !== "" && lineWidth + charWidth > limit) {
        lines.push(line);
        line = "";
        lineWidth = 0;
      }
      line += char;
      lineWidth += charWidth;
    }
    lines.push(line);
    return lines.join("\n");
  });
}

/** Lets the event loop see a departed client about every this many milliseconds of layout. */
const YIELD_EVERY_MS = 25;

export async function renderPdf(
  title: string,
  blocks: Block[],
  metadata: DocumentMetadata,
  signal?: AbortSignal,
): Promise<PdfRendered> {
  const doc = new PDFDocument({
    size: "A4",
    margins: { top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN },
    compress: true,
    displayTitle: true,
    lang: metadata.language ?? "en",
    info: pdfInfo(title, metadata),
  });
  for (const [name, data] of Object.entries(FONTS)) doc.registerFont(name, data);

  const chunks: Buffer[] = [];
  doc.on("data", (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<void>((resolve, reject) => {
    doc.on("end", resolve);
    doc.on("error", reject);
  });
  let pageCount = 1;
  doc.on("pageAdded", () => {
    pageCount += 1;
    if (pageCount > MAX_PDF_PAGES) throw new PageLimitReached();
  });

  let stopped = false;
  let cancelled = false;
  try {
    doc
      .font("sansBold")
      .fontSize(22)
      .fillColor(TEXT_COLOR)
      .text(breakLongRuns(doc, title, contentWidth(doc)), { width: contentWidth(doc) });
    doc.moveDown(0.6);
    let lastYield = performance.now();
    for (const block of blocks) {
      renderBlock(doc, block, 0);
      if (performance.now() - lastYield < YIELD_EVERY_MS) continue;
      // Yielding changes no byte of the output, only when the work happens.
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
      if (signal?.aborted === true) {
        cancelled = true;
        break;
      }
    }
  } catch (error) {
    if (!(error instanceof PageLimitReached)) throw error;
    stopped = true;
  }
  doc.end();
  await finished;
  if (cancelled) return { ok: false, error: "document generation was cancelled" };
  if (stopped) {
    return {
      ok: false,
      error: `the PDF would exceed ${MAX_PDF_PAGES} pages; shorten the content or split it`,
    };
  }
  return { ok: true, bytes: new Uint8Array(Buffer.concat(chunks)), pageCount };
}

function pdfInfo(title: string, metadata: DocumentMetadata): PDFKit.DocumentInfo {
  const info: PDFKit.DocumentInfo = {
    Title: title,
    Creator: "mcp-gateway docs",
    Producer: "mcp-gateway docs",
    // Fixed dates: the file ID is derived from the info dictionary, so it is fixed as well.
    CreationDate: FIXED_DOCUMENT_DATE,
    ModDate: FIXED_DOCUMENT_DATE,
  };
  // pdfkit cannot hash undefined entries into the file ID, so absent fields are left out.
  if (metadata.author !== undefined) info.Author = metadata.author;
  if (metadata.subject !== undefined) info.Subject = metadata.subject;
  if (metadata.keywords !== undefined) info.Keywords = metadata.keywords.join(", ");
  return info;
}

function contentWidth(doc: PDFKit.PDFDocument): number {
  return doc.page.width - MARGIN * 2;
}

function renderBlocks(doc: PDFKit.PDFDocument, blocks: Block[], indent: number): void {
  for (const block of blocks) renderBlock(doc, block, indent);
}

function renderBlock(doc: PDFKit.PDFDocument, block: Block, indent: number): void {
  const left = MARGIN + indent;
  const width = contentWidth(doc) - indent;
  switch (block.type) {
    case "heading":
      doc.moveDown(0.4);
      writeRuns(doc, block.runs, {
        left,
        width,
        size: HEADING_SIZES[block.level - 1] ?? BODY_SIZE,
        bold: true,
      });
      doc.moveDown(0.3);
      return;
    case "paragraph":
      writeRuns(doc, block.runs, { left, width, size: BODY_SIZE });
      doc.moveDown(0.5);
      return;
    case "code":
      doc.font("mono").fontSize(9).fillColor("#333333");
      doc.text(
        breakLongRuns(doc, block.text === "" ? " " : block.text, width - 8),
        left + 8,
        doc.y,
        {
          width: width - 8,
        },
      );
      doc.fillColor(TEXT_COLOR).moveDown(0.6);
      return;
    case "list": {
      const markerWidth = block.ordered ? 22 : 12;
      block.items.forEach((item, index) => {
        const marker = block.ordered ? `${block.start + index}.` : "•";
        const top = doc.y;
        doc
          .font("sans")
          .fontSize(BODY_SIZE)
          .fillColor(TEXT_COLOR)
          .text(marker, left, top, { width: markerWidth });
        doc.y = top;
        renderItem(doc, item, indent + markerWidth);
      });
      doc.moveDown(0.2);
      return;
    }
    case "table":
      renderTable(doc, block, left, width);
      doc.moveDown(0.6);
      return;
    case "quote":
      doc.fillColor("#555555");
      renderBlocks(doc, block.blocks, indent + 16);
      doc.fillColor(TEXT_COLOR);
      return;
    case "rule": {
      const y = doc.y + 4;
      doc
        .moveTo(left, y)
        .lineTo(left + width, y)
        .lineWidth(0.5)
        .strokeColor("#999999")
        .stroke();
      doc.y = y + 8;
      return;
    }
  }
}

/** List item blocks: the first paragraph sits beside the marker, without extra space above. */
function renderItem(doc: PDFKit.PDFDocument, item: Block[], indent: number): void {
  if (item.length === 0) {
    doc.moveDown(1);
    return;
  }
  for (const block of item) {
    if (block.type === "paragraph") {
      writeRuns(doc, block.runs, {
        left: MARGIN + indent,
        width: contentWidth(doc) - indent,
        size: BODY_SIZE,
      });
      doc.moveDown(0.15);
    } else {
      renderBlock(doc, block, indent);
    }
  }
}

function fontFor(run: TextRun, forceBold: boolean): FontName {
  const bold = run.bold || forceBold;
  if (run.code) return bold ? "monoBold" : "mono";
  if (bold && run.italic) return "sansBoldItalic";
  if (bold) return "sansBold";
  if (run.italic) return "sansItalic";
  return "sans";
}

function writeRuns(
  doc: PDFKit.PDFDocument,
  runs: Run[],
  layout: { left: number; width: number; size: number; bold?: boolean },
): void {
  const pieces = runs.filter((run) => run.kind === "break" || run.text !== "");
  if (pieces.length === 0) return;
  doc.x = layout.left;
  pieces.forEach((run, index) => {
    const continued = index < pieces.length - 1;
    if (run.kind === "break") {
      doc.text("\n", { width: layout.width, continued });
      return;
    }
    doc
      .font(fontFor(run, layout.bold === true))
      .fontSize(layout.size)
      .fillColor(run.href === undefined ? TEXT_COLOR : LINK_COLOR);
    doc.text(breakLongRuns(doc, run.text, layout.width), {
      width: layout.width,
      continued,
      link: run.href ?? null,
      underline: run.href !== undefined,
      strike: run.strike,
    });
  });
  doc.fillColor(TEXT_COLOR);
  doc.x = MARGIN;
}

function plainText(runs: Run[]): string {
  return runs.map((run) => (run.kind === "break" ? "\n" : run.text)).join("");
}

function renderTable(
  doc: PDFKit.PDFDocument,
  table: Extract<Block, { type: "table" }>,
  left: number,
  width: number,
): void {
  const columns = Math.max(table.header.length, 1);
  const columnWidth = width / columns;
  const padding = 4;
  const rows = [table.header, ...table.rows];
  rows.forEach((row, rowIndex) => {
    const header = rowIndex === 0;
    doc.font(header ? "sansBold" : "sans").fontSize(9);
    const cellWidth = columnWidth - padding * 2;
    const texts = Array.from({ length: columns }, (_, i) =>
      breakLongRuns(doc, plainText(row[i] ?? []), cellWidth),
    );
    const height =
      Math.max(...texts.map((text) => doc.heightOfString(text || " ", { width: cellWidth }))) +
      padding * 2;
    if (doc.y + height > doc.page.height - MARGIN) doc.addPage();
    const top = doc.y;
    texts.forEach((text, i) => {
      const x = left + i * columnWidth;
      doc.rect(x, top, columnWidth, height).lineWidth(0.5).strokeColor("#999999").stroke();
      const align = table.align[i] ?? "left";
      doc.fillColor(TEXT_COLOR).text(text, x + padding, top + padding, {
        width: cellWidth,
        align: align === "center" ? "center" : align === "right" ? "right" : "left",
      });
    });
    doc.x = MARGIN;
    doc.y = top + height;
  });
}
