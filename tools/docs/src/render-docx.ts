import { strToU8, zipSync, type Zippable } from "fflate";
import { FIXED_DOCUMENT_DATE, type DocumentMetadata } from "./document-request.ts";
import type { Block, Run } from "./markdown-model.ts";

/**
 * WordprocessingML written directly and zipped with fflate. The docx package was not used: it
 * draws relationship and numbering ids from Math.random and process-wide counters, so the same
 * input would not give the same bytes. Here every id is a counter local to one document.
 */

const NS_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const REL_HYPERLINK =
  "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink";
const XML_HEADER = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';

/** DOS times in a zip are local wall-clock fields, so the fixed instant is given as local fields. */
const ZIP_MTIME = new Date(
  FIXED_DOCUMENT_DATE.getUTCFullYear(),
  FIXED_DOCUMENT_DATE.getUTCMonth(),
  FIXED_DOCUMENT_DATE.getUTCDate(),
  0,
  0,
  0,
);
const W3CDTF_DATE = FIXED_DOCUMENT_DATE.toISOString().replace(/\.\d{3}Z$/, "Z");

export function escapeXml(text: string): string {
  return (
    text
      // XML 1.0 cannot carry these characters at all, even escaped.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
      .replaceAll("&", "&amp;")
      .replaceAll("<", "&lt;")
      .replaceAll(">", "&gt;")
      .replaceAll('"', "&quot;")
  );
}

interface DocxState {
  links: string[];
  /** One w:num per ordered list so each list restarts at its own start value. */
  orderedLists: { start: number; level: number }[];
}

export function renderDocx(title: string, blocks: Block[], metadata: DocumentMetadata): Uint8Array {
  const state: DocxState = { links: [], orderedLists: [] };
  const body = [
    paragraph(
      "Title",
      runsXml(
        [{ kind: "text", text: title, bold: false, italic: false, code: false, strike: false }],
        state,
      ),
    ),
    ...blocks.map((block) => blockXml(block, state, 0, 0)),
  ].join("");
  const documentXml =
    `${XML_HEADER}<w:document xmlns:w="${NS_W}" xmlns:r="${NS_R}"><w:body>${body}` +
    '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1134" w:right="1134" w:bottom="1134" w:left="1134" w:header="567" w:footer="567" w:gutter="0"/></w:sectPr>' +
    "</w:body></w:document>";

  // Insertion order is the zip entry order; [Content_Types].xml first as packaging tools expect.
  const files: Zippable = {
    "[Content_Types].xml": strToU8(contentTypesXml()),
    "_rels/.rels": strToU8(rootRelsXml()),
    "docProps/core.xml": strToU8(coreXml(title, metadata)),
    "docProps/app.xml": strToU8(appXml()),
    "word/document.xml": strToU8(documentXml),
    "word/_rels/document.xml.rels": strToU8(documentRelsXml(state)),
    "word/styles.xml": strToU8(stylesXml()),
    "word/numbering.xml": strToU8(numberingXml(state)),
  };
  return zipSync(files, { level: 6, mtime: ZIP_MTIME });
}

function paragraph(style: string | undefined, content: string, extraProperties = ""): string {
  const styleXml = style === undefined ? "" : `<w:pStyle w:val="${style}"/>`;
  const properties = styleXml + extraProperties;
  return `<w:p>${properties === "" ? "" : `<w:pPr>${properties}</w:pPr>`}${content}</w:p>`;
}

function blockXml(block: Block, state: DocxState, listLevel: number, quoteIndent: number): string {
  const indent = quoteIndent > 0 ? `<w:ind w:left="${quoteIndent}"/>` : "";
  switch (block.type) {
    case "heading":
      return paragraph(`Heading${block.level}`, runsXml(block.runs, state), indent);
    case "paragraph":
      return paragraph(quoteIndent > 0 ? "Quote" : undefined, runsXml(block.runs, state), indent);
    case "code": {
      const lines = block.text.split("\n");
      const content = lines
        .map(
          (line, i) =>
            `${i > 0 ? "<w:br/>" : ""}<w:t xml:space="preserve">${escapeXml(line)}</w:t>`,
        )
        .join("");
      return paragraph("CodeBlock", `<w:r>${content}</w:r>`, indent);
    }
    case "list": {
      const level = Math.min(listLevel, 8);
      let numId = 1;
      if (block.ordered) {
        state.orderedLists.push({ start: block.start, level });
        numId = state.orderedLists.length + 1;
      }
      return block.items
        .map((item) =>
          item
            .map((child, index) => {
              if (child.type === "paragraph" && index === 0) {
                const numbering = `<w:numPr><w:ilvl w:val="${level}"/><w:numId w:val="${numId}"/></w:numPr>`;
                return paragraph("ListParagraph", runsXml(child.runs, state), numbering);
              }
              if (child.type === "paragraph") {
                return paragraph(
                  "ListParagraph",
                  runsXml(child.runs, state),
                  `<w:ind w:left="${720 * (level + 1)}"/>`,
                );
              }
              return blockXml(
                child,
                state,
                child.type === "list" ? listLevel + 1 : listLevel,
                quoteIndent,
              );
            })
            .join(""),
        )
        .join("");
    }
    case "table": {
      const columns = Math.max(block.header.length, 1);
      const width = Math.floor(9638 / columns);
      const grid = `<w:tblGrid>${`<w:gridCol w:w="${width}"/>`.repeat(columns)}</w:tblGrid>`;
      const row = (cells: Run[][], header: boolean): string => {
        const cellsXml = Array.from({ length: columns }, (_, i) => {
          const align = block.align[i];
          const jc = align === "center" ? "center" : align === "right" ? "right" : undefined;
          const runs = (cells[i] ?? []).map((run) =>
            header && run.kind === "text" ? { ...run, bold: true } : run,
          );
          const content = paragraph(
            undefined,
            runsXml(runs, state),
            jc === undefined ? "" : `<w:jc w:val="${jc}"/>`,
          );
          return `<w:tc><w:tcPr><w:tcW w:w="${width}" w:type="dxa"/></w:tcPr>${content}</w:tc>`;
        }).join("");
        return `<w:tr>${header ? "<w:trPr><w:tblHeader/></w:trPr>" : ""}${cellsXml}</w:tr>`;
      };
      return (
        '<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="0" w:type="auto"/></w:tblPr>' +
        grid +
        row(block.header, true) +
        block.rows.map((cells) => row(cells, false)).join("") +
        "</w:tbl>" +
        paragraph(undefined, "")
      );
    }
    case "quote":
      return block.blocks
        .map((child) => blockXml(child, state, listLevel, quoteIndent + 567))
        .join("");
    case "rule":
      return paragraph(
        undefined,
        "",
        '<w:pBdr><w:bottom w:val="single" w:sz="6" w:space="1" w:color="999999"/></w:pBdr>',
      );
  }
}

function runsXml(runs: Run[], state: DocxState): string {
  return runs
    .map((run) => {
      if (run.kind === "break") return "<w:r><w:br/></w:r>";
      const properties = [
        run.href !== undefined ? '<w:rStyle w:val="Hyperlink"/>' : "",
        run.code
          ? '<w:rFonts w:ascii="DejaVu Sans Mono" w:hAnsi="DejaVu Sans Mono" w:cs="DejaVu Sans Mono"/>'
          : "",
        run.bold ? "<w:b/>" : "",
        run.italic ? "<w:i/>" : "",
        run.strike ? "<w:strike/>" : "",
      ].join("");
      const xml = `<w:r>${properties === "" ? "" : `<w:rPr>${properties}</w:rPr>`}<w:t xml:space="preserve">${escapeXml(run.text)}</w:t></w:r>`;
      if (run.href === undefined) return xml;
      if (run.href.startsWith("#"))
        return `<w:hyperlink w:anchor="${escapeXml(run.href.slice(1))}">${xml}</w:hyperlink>`;
      state.links.push(run.href);
      return `<w:hyperlink r:id="rIdLink${state.links.length}">${xml}</w:hyperlink>`;
    })
    .join("");
}

function contentTypesXml(): string {
  const main = "application/vnd.openxmlformats-officedocument.wordprocessingml";
  return (
    `${XML_HEADER}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    '<Default Extension="xml" ContentType="application/xml"/>' +
    `<Override PartName="/word/document.xml" ContentType="${main}.document.main+xml"/>` +
    `<Override PartName="/word/styles.xml" ContentType="${main}.styles+xml"/>` +
    `<Override PartName="/word/numbering.xml" ContentType="${main}.numbering+xml"/>` +
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>' +
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>' +
    "</Types>"
  );
}

function rootRelsXml(): string {
  return (
    `${XML_HEADER}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>' +
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>' +
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>' +
    "</Relationships>"
  );
}

function documentRelsXml(state: DocxState): string {
  const links = state.links
    .map(
      (href, i) =>
        `<Relationship Id="rIdLink${i + 1}" Type="${REL_HYPERLINK}" Target="${escapeXml(href)}" TargetMode="External"/>`,
    )
    .join("");
  return (
    `${XML_HEADER}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
    '<Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>' +
    '<Relationship Id="rIdNumbering" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering" Target="numbering.xml"/>' +
    links +
    "</Relationships>"
  );
}

function coreXml(title: string, metadata: DocumentMetadata): string {
  const optional = (tag: string, value: string | undefined): string =>
    value === undefined ? "" : `<${tag}>${escapeXml(value)}</${tag}>`;
  return (
    `${XML_HEADER}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" ` +
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" ' +
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
    `<dc:title>${escapeXml(title)}</dc:title>` +
    optional("dc:subject", metadata.subject) +
    optional("dc:creator", metadata.author) +
    optional("cp:keywords", metadata.keywords?.join(", ")) +
    optional("dc:language", metadata.language) +
    `<dcterms:created xsi:type="dcterms:W3CDTF">${W3CDTF_DATE}</dcterms:created>` +
    `<dcterms:modified xsi:type="dcterms:W3CDTF">${W3CDTF_DATE}</dcterms:modified>` +
    "</cp:coreProperties>"
  );
}

function appXml(): string {
  return (
    `${XML_HEADER}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">` +
    "<Application>mcp-gateway docs</Application></Properties>"
  );
}

function stylesXml(): string {
  const font =
    '<w:rFonts w:ascii="DejaVu Sans" w:hAnsi="DejaVu Sans" w:cs="DejaVu Sans" w:eastAsia="DejaVu Sans"/>';
  const heading = (level: number, size: number): string =>
    `<w:style w:type="paragraph" w:styleId="Heading${level}"><w:name w:val="heading ${level}"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/>` +
    `<w:pPr><w:keepNext/><w:spacing w:before="240" w:after="80"/><w:outlineLvl w:val="${level - 1}"/></w:pPr><w:rPr><w:b/><w:sz w:val="${size}"/></w:rPr></w:style>`;
  return (
    `${XML_HEADER}<w:styles xmlns:w="${NS_W}">` +
    `<w:docDefaults><w:rPrDefault><w:rPr>${font}<w:sz w:val="21"/><w:lang w:val="en-US"/></w:rPr></w:rPrDefault>` +
    '<w:pPrDefault><w:pPr><w:spacing w:after="120" w:line="276" w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults>' +
    '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style>' +
    '<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:pPr><w:spacing w:after="240"/></w:pPr><w:rPr><w:b/><w:sz w:val="44"/></w:rPr></w:style>' +
    [36, 30, 26, 24, 22, 21].map((size, i) => heading(i + 1, size)).join("") +
    '<w:style w:type="paragraph" w:styleId="ListParagraph"><w:name w:val="List Paragraph"/><w:basedOn w:val="Normal"/><w:qFormat/><w:pPr><w:spacing w:after="40"/><w:contextualSpacing/></w:pPr></w:style>' +
    '<w:style w:type="paragraph" w:styleId="CodeBlock"><w:name w:val="Code Block"/><w:basedOn w:val="Normal"/><w:pPr><w:shd w:val="clear" w:color="auto" w:fill="F4F4F4"/><w:spacing w:after="120" w:line="240" w:lineRule="auto"/></w:pPr>' +
    '<w:rPr><w:rFonts w:ascii="DejaVu Sans Mono" w:hAnsi="DejaVu Sans Mono" w:cs="DejaVu Sans Mono"/><w:sz w:val="18"/></w:rPr></w:style>' +
    '<w:style w:type="paragraph" w:styleId="Quote"><w:name w:val="Quote"/><w:basedOn w:val="Normal"/><w:qFormat/><w:rPr><w:i/><w:color w:val="555555"/></w:rPr></w:style>' +
    '<w:style w:type="character" w:styleId="Hyperlink"><w:name w:val="Hyperlink"/><w:rPr><w:color w:val="1A4F9C"/><w:u w:val="single"/></w:rPr></w:style>' +
    '<w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/><w:tblPr><w:tblBorders>' +
    ["top", "left", "bottom", "right", "insideH", "insideV"]
      .map((side) => `<w:${side} w:val="single" w:sz="4" w:space="0" w:color="999999"/>`)
      .join("") +
    '</w:tblBorders><w:tblCellMar><w:left w:w="80" w:type="dxa"/><w:right w:w="80" w:type="dxa"/></w:tblCellMar></w:tblPr></w:style>' +
    "</w:styles>"
  );
}

function numberingXml(state: DocxState): string {
  const bullets = ["•", "◦", "▪"];
  const levels = (ordered: boolean): string =>
    Array.from({ length: 9 }, (_, level) => {
      const format = ordered ? "decimal" : "bullet";
      const text = ordered ? `%${level + 1}.` : (bullets[level % bullets.length] as string);
      return (
        `<w:lvl w:ilvl="${level}"><w:start w:val="1"/><w:numFmt w:val="${format}"/><w:lvlText w:val="${text}"/><w:lvlJc w:val="left"/>` +
        `<w:pPr><w:ind w:left="${720 * (level + 1)}" w:hanging="360"/></w:pPr></w:lvl>`
      );
    }).join("");
  const ordered = state.orderedLists
    .map(
      ({ start, level }, i) =>
        `<w:num w:numId="${i + 2}"><w:abstractNumId w:val="1"/><w:lvlOverride w:ilvl="${level}"><w:startOverride w:val="${start}"/></w:lvlOverride></w:num>`,
    )
    .join("");
  return (
    `${XML_HEADER}<w:numbering xmlns:w="${NS_W}">` +
    `<w:abstractNum w:abstractNumId="0"><w:multiLevelType w:val="hybridMultilevel"/>${levels(false)}</w:abstractNum>` +
    `<w:abstractNum w:abstractNumId="1"><w:multiLevelType w:val="hybridMultilevel"/>${levels(true)}</w:abstractNum>` +
    '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>' +
    ordered +
    "</w:numbering>"
  );
}
