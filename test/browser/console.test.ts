import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { buildConsole } from "../../console/build.ts";
import { createLogger } from "../../contract/src/log.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import { signDevToken } from "../../dev/token-cli.ts";
import {
  startStandInBackend,
  TOOL_SECRET,
  type StandInBackend,
} from "../../mcp-router/test/router-harness.ts";

/**
 * The console in a real browser: Debian's Chromium (`apt-get install chromium`; no browser is
 * downloaded) driven by playwright-core, against the whole embedded stack with a `calc` scope
 * whose backend can change a tool's definition. With CONSOLE_SCREENSHOTS=<dir> (or 1 for
 * docs/console) it also takes the screenshots docs/console.md shows.
 *
 * Without Chromium the tests are skipped, saying so, except in CI (CI=true), where .ci/run
 * installs it and its absence is a failure.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
const executablePath = CANDIDATES.find(
  (candidate): candidate is string =>
    candidate !== undefined && candidate !== "" && existsSync(candidate),
);
const screenshotSetting = process.env.CONSOLE_SCREENSHOTS;
const screenshots =
  screenshotSetting === undefined || screenshotSetting === ""
    ? undefined
    : screenshotSetting === "1"
      ? path.join(ROOT, "docs", "console")
      : path.resolve(screenshotSetting);

if (executablePath === undefined) {
  const reason =
    "no Chromium at /usr/bin/chromium (apt-get install chromium, or set CHROMIUM_PATH)";
  if (process.env.CI === "true")
    throw new Error(`console browser tests need Chromium in CI: ${reason}`);
  console.warn(`console browser tests skipped: ${reason}`);
}

const quiet = createLogger({ name: "browser-test", level: "silent" });

/** The shipped configuration plus a `calc` scope on a backend whose definitions can change. */
async function writeConfig(dir: string): Promise<void> {
  const read = async (name: string) =>
    parse(await readFile(path.join(ROOT, "config", name), "utf8")) as {
      scopes: Record<string, unknown>;
      roles: Record<string, { allow: string[] }>;
    };
  const tools = await read("tools.yaml");
  tools.scopes.calc = {
    description: "A calculator whose backend changes its definitions",
    backend_url: "${CALC_URL}",
    timeout_ms: 5000,
    tools: [{ name: "add" }, { name: "fail" }],
  };
  const policy = await read("policy.yaml");
  policy.roles.developer!.allow.push("calc.*");
  await writeFile(path.join(dir, "tools.yaml"), stringify(tools));
  await writeFile(path.join(dir, "policy.yaml"), stringify(policy));
}

describe.skipIf(executablePath === undefined)("the console in Chromium", () => {
  let configDir: string;
  let backend: StandInBackend;
  let stack: EmbeddedStack;
  let browser: Browser;
  let page: Page;
  let env: Record<string, string>;
  const problems: string[] = [];

  const token = (user: string, roles: string[]) =>
    signDevToken({ user, roles, tenant: "acme", ttlSeconds: 3600 }, env);
  const invoke = async (user: string, roles: string[], tool: string, args: object = {}) =>
    fetch(`${stack.url}/mcp/invoke`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await token(user, roles)}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ tool_name: tool, arguments: args }),
    });
  const shoot = async (name: string) => {
    if (screenshots === undefined) return;
    // From the top: the sticky header then sits where it belongs in a full-page capture.
    await page.evaluate("window.scrollTo(0, 0)");
    await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    await buildConsole();
    if (screenshots !== undefined) await mkdir(screenshots, { recursive: true });
    configDir = await mkdtemp(path.join(tmpdir(), "console-browser-"));
    await writeConfig(configDir);
    backend = await startStandInBackend("calc");
    env = {
      NODE_ENV: "test",
      LOG_LEVEL: "silent",
      HOST: "127.0.0.1",
      PORT: "0",
      EXT_AUTHZ_PORT: "0",
      CONFIG_DIR: configDir,
      CALC_URL: backend.url,
      JWT_SECRET_KEY: "browser-jwt-secret-key-0123456789abcdefghijklmn",
      GATEWAY_VERDICT_KEY: "browser-verdict-key-0123456789abcdefghijklmn",
      TOOL_GATEWAY_SHARED_SECRET: TOOL_SECRET,
    };
    stack = await startEmbeddedStack({ env, inMemoryDatabase: true, logger: quiet });
    await stack.router.catalog.refresh("calc");
    browser = await chromium.launch({
      executablePath,
      headless: true,
      // Root in a container has no user namespaces for Chromium's sandbox.
      args: ["--no-sandbox"],
    });
    const context = await browser.newContext({
      viewport: { width: 1360, height: 900 },
      deviceScaleFactor: 1,
      colorScheme: "light",
    });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // A CSP violation or a script error shows up here; the page must have none.
    page.on("console", (message) => {
      if (message.type() === "error" && !/status of 40[13]/.test(message.text())) {
        problems.push(message.text());
      }
    });
    page.on("pageerror", (error) => problems.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await backend?.close();
    if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
  });

  it("asks for a token, then signs in with an operator's", async () => {
    await page.goto(`${stack.url}/console`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await shoot("sign-in");
    await page.getByLabel("Access token").fill(await token("olivia", ["operator"]));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    await page.locator(".kpi").first().waitFor();
    expect(await page.locator(".kpi-label").allTextContents()).toContain("Requests / s");
    // The token stays in this tab's sessionStorage (the test runs in node: no DOM types here).
    expect(await page.evaluate("sessionStorage.length")).toBe(1);
  });

  it("refuses a token without the operator role, saying why", async () => {
    const other = await page.context().newPage();
    await other.goto(`${stack.url}/console`);
    await other.getByLabel("Access token").fill(await token("dave", ["developer"]));
    await other.getByRole("button", { name: "Sign in" }).click();
    await expect
      .poll(() => other.locator(".notice-error").first().textContent())
      .toMatch(/no operator role/);
    await other.close();
  });

  it("shows every scope and tool on the tools page", async () => {
    await page.getByRole("link", { name: "Tools" }).click();
    const row = page.locator('tr[data-tool="calculator.exact_calculate"]');
    await row.waitFor();
    expect(await row.locator(".badge").first().textContent()).toBe("active");
    expect(await page.locator("section.scope").count()).toBe(
      Object.keys(stack.config.tools.scopes).length,
    );
  });

  it("shows a changed definition's diff and approves it", async () => {
    backend.setDescription("add", "Adds two numbers exactly, with a new rounding rule");
    await stack.router.catalog.refresh("calc");
    await page.getByRole("button", { name: "Refresh" }).click();
    const row = page.locator('tr[data-tool="calc.add"]');
    await expect.poll(() => row.locator(".badge").first().textContent()).toBe("definition changed");
    const change = page.locator('[data-change="calc.add"]');
    expect(await change.locator(".diff-del").allTextContents()).toContain(
      '-   "description": "Adds two numbers",',
    );
    expect(await change.locator(".diff-add").allTextContents()).toContain(
      '+   "description": "Adds two numbers exactly, with a new rounding rule",',
    );
    expect(await page.locator(".summary strong").textContent()).toBe(
      "1 definition change awaiting review",
    );
    await shoot("tools");

    // Refused while pending: the approved definition is served, calls are held.
    expect((await invoke("alice", ["developer"], "calc.add", { a: 1, b: 2 })).status).toBe(409);
    await change.getByRole("button", { name: "Approve" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("heading", { name: "Approve calc.add?" }).waitFor();
    await dialog.getByRole("button", { name: "Approve" }).click();
    await expect
      .poll(() => page.locator(".notice-success").first().textContent())
      .toMatch(/^Approved calc\.add/);
    await expect.poll(() => row.locator(".badge").first().textContent()).toBe("active");
    expect(await page.locator('[data-change="calc.add"]').count()).toBe(0);
    expect((await invoke("alice", ["developer"], "calc.add", { a: 1, b: 2 })).status).toBe(200);
    const registry = await stack.database.db
      .selectFrom("tool_registry")
      .selectAll()
      .where("scope", "=", "calc")
      .where("name", "=", "add")
      .executeTakeFirstOrThrow();
    expect(registry.approved_definition_digest).toBe(registry.observed_definition_digest);
    const [approval] = await stack.database.db
      .selectFrom("audit_events")
      .selectAll()
      .where("method", "=", "admin/tools/approve")
      .execute();
    expect(approval).toMatchObject({
      subject: "olivia",
      scope: "calc",
      tool: "add",
      outcome: "ok",
    });
  });

  it("shows the roles × tools matrix and explains a call", async () => {
    await page.getByRole("link", { name: "Access" }).click();
    const auditorCell = page.locator('tr[data-tool="git.git_diff"] td.cell-conditional');
    await auditorCell.first().waitFor();
    expect(await auditorCell.first().locator("code").allTextContents()).toContain(
      'has(arguments.format) && arguments.format != "stat"',
    );
    await page.getByLabel("Tool", { exact: true }).fill("git.git_diff");
    await page.getByLabel(/^Roles/).fill("auditor");
    await page.getByLabel("Arguments (JSON)").fill('{"format": "patch"}');
    await page.getByRole("button", { name: "Explain" }).click();
    const explanation = page.locator('dl.explanation[data-decision="denied"]');
    await explanation.waitFor();
    expect(await explanation.textContent()).toMatch(/roles\.auditor\.deny\[\d+\]/);
    await shoot("access");
  });

  it("filters the audit table, and a refused call appears in it", async () => {
    const refused = await invoke("bob", ["analyst"], "git.git_log", { repository: "x" });
    expect(refused.status).toBe(403);
    const requestId = refused.headers.get("x-request-id")!;

    await page.getByRole("link", { name: "Audit" }).click();
    await page.locator(`table.audit tr[data-request-id="${requestId}"]`).waitFor();
    await shoot("audit");
    await page.getByLabel("User").fill("bob");
    await page.getByLabel("Outcome").selectOption("denied");
    await page.getByLabel("Since").fill("1h");
    await page.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => new URL(page.url()).hash).toMatch(/user=bob/);
    const row = page.locator(`table.audit tr[data-request-id="${requestId}"]`);
    await row.waitFor();
    const rows = page.locator("table.audit tbody tr");
    for (const text of await rows.allTextContents()) expect(text).toMatch(/bob.*denied/);
    expect(await row.textContent()).toMatch(/tool_not_allowed/);
    await shoot("audit-filtered");
    await row.click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText(requestId).first().waitFor();
    await shoot("audit-event");
    expect(await dialog.textContent()).toMatch(/ext-authz/);
    await dialog.getByRole("button", { name: "Close" }).click();

    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Export CSV" }).click();
    const csv = await readFile(await (await download).path(), "utf8");
    expect(csv.split("\r\n")[0]).toMatch(/^time,id,request_id,/);
    expect(csv).toContain(requestId);
  });

  it("shows the busiest rate-limit counters", async () => {
    for (let i = 0; i < 4; i++) {
      await invoke("bob", ["analyst"], "calculator.list_units");
    }
    await page.getByRole("link", { name: "Limits" }).click();
    const row = page.locator('tr[data-kind="user"]', { hasText: "bob" });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/acme \/ bob/);
    await shoot("limits");
  });

  it("draws the overview's sparklines from the router's samples", async () => {
    if (screenshots !== undefined) {
      // Enough sampling intervals (10 s each) for the screenshot to show a trend.
      const until = Date.now() + 150_000;
      let i = 0;
      while (Date.now() < until) {
        i += 1;
        await Promise.all([
          invoke("alice", ["developer"], "calculator.exact_calculate", {
            operator: "add",
            operands: [String(i), "0.5"],
          }),
          invoke("alice", ["developer"], "calc.add", { a: i, b: 1 }),
          i % 5 === 0 ? invoke("alice", ["developer"], "calc.fail") : null,
          i % 4 === 0 ? invoke("bob", ["analyst"], "git.git_log", {}) : null,
        ]);
        // About 85 calls a minute per tool: under the per-user-tool quota (120 a minute).
        await new Promise((resolve) => setTimeout(resolve, 500 + (i % 5) * 100));
      }
    } else {
      await invoke("alice", ["developer"], "calc.add", { a: 1, b: 1 });
    }
    await page.getByRole("link", { name: "Overview" }).click();
    await page.locator('tr[data-scope="calc"] svg.sparkline').first().waitFor();
    expect(await page.locator('tr[data-scope="calc"] th').first().textContent()).toBe("calc");
    await shoot("overview");
  }, 240_000);

  it("ran without a script error or a Content-Security-Policy violation", () => {
    expect(problems).toEqual([]);
  });
});
