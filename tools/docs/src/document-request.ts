import { z } from "zod";

export const MAX_CONTENT_CHARS = 200_000;
export const MAX_TITLE_CHARS = 300;
export const MAX_PDF_PAGES = 200;

/**
 * Every generated document carries this instant as its creation and modification date, so the
 * same input gives the same bytes whenever and wherever it is rendered.
 */
export const FIXED_DOCUMENT_DATE = new Date(Date.UTC(2000, 0, 1, 0, 0, 0));

export const DOCUMENT_FORMATS = ["pdf", "docx", "html"] as const;
export type DocumentFormat = (typeof DOCUMENT_FORMATS)[number];

export const MIME_TYPES: Record<DocumentFormat, string> = {
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  html: "text/html; charset=utf-8",
};

// Control characters have no place in titles or metadata and are invalid in XML 1.0.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const NoControlCharacters = (value: string): boolean => !CONTROL_CHARACTERS.test(value);

const MetadataText = (max: number) =>
  z
    .string()
    .max(max)
    .refine(NoControlCharacters, { message: "must not contain control characters" });

export const DocumentMetadataSchema = z.strictObject({
  author: MetadataText(200).optional(),
  subject: MetadataText(500).optional(),
  keywords: z.array(MetadataText(100)).max(50).optional(),
  language: z
    .string()
    .regex(
      /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/,
      "must be a BCP 47 language tag such as en or de-CH",
    )
    .optional(),
});
export type DocumentMetadata = z.infer<typeof DocumentMetadataSchema>;

export const GenerateDocumentInputSchema = z.strictObject({
  format: z.enum(DOCUMENT_FORMATS),
  title: MetadataText(MAX_TITLE_CHARS).min(1, "title must not be empty"),
  content: z
    .string()
    .max(MAX_CONTENT_CHARS, `content must be at most ${MAX_CONTENT_CHARS} characters`)
    .describe("Markdown: headings, paragraphs, emphasis, lists, code blocks, tables, links"),
  metadata: DocumentMetadataSchema.optional(),
});
export type GenerateDocumentInput = z.infer<typeof GenerateDocumentInputSchema>;

export const GenerateDocumentOutputSchema = z.object({
  format: z.enum(DOCUMENT_FORMATS),
  mimeType: z.string(),
  fileName: z.string(),
  uri: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().nonnegative(),
  pageCount: z.number().int().positive().optional(),
});
export type GenerateDocumentOutput = z.infer<typeof GenerateDocumentOutputSchema>;

/** A file name derived from the title: lower-case ASCII words joined by dashes. */
export function fileNameFor(title: string, format: DocumentFormat): string {
  const slug = title
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60)
    .replace(/-+$/, "");
  return `${slug === "" ? "document" : slug}.${format}`;
}
