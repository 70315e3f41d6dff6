// Chromium pages on the example pages for the browser tests: a sidecar serving examples/web
// (--static_dir) with one example backend attached, Debian's chromium driven by playwright-core,
// and small helpers for the pages' forms. Screenshots go to tests/browser/artifacts/.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startExample } from "../e2e/harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const artifacts = path.join(here, "artifacts");
const staticDir = path.resolve(here, "../../examples/web");
const executablePath = process.env.CHROME_BIN ?? "/usr/bin/chromium";
export const noChromium = fs.existsSync(executablePath)
  ? false
  : `${executablePath} not found (scripts/setup.sh installs Debian's chromium)`;
const TIMEOUT_MS = 15000;

// A sidecar serving examples/web (with extra `flags`) with `binary` attached, and a Chromium
// whose pages record their script errors. Call inside a describe.
export function pagesOf(binary, args = [], flags = []) {
  const state = { example: undefined, browser: undefined, errors: [] };
  before(async () => {
    fs.mkdirSync(artifacts, { recursive: true });
    state.example = await startExample(binary(), args, [`--static_dir=${staticDir}`, ...flags]);
    state.browser = await chromium.launch({
      executablePath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });
  after(async () => {
    await state.browser?.close();
    await state.example?.stop();
    assert.deepEqual(state.errors, [], "no script errors on the pages");
  });
  return {
    // `client`: a socket.io-client bundle served in place of the page's own (4.x).
    async open(file = "", { client } = {}) {
      const page = await state.browser.newPage();
      page.setDefaultTimeout(TIMEOUT_MS);
      page.on("pageerror", (error) => state.errors.push(`${file || "index.html"}: ${error.message}`));
      if (client) {
        await page.route("**/socket.io-client/dist/socket.io.min.js", (route) =>
          route.fulfill({ path: client, contentType: "application/javascript" }));
      }
      await page.goto(`${state.example.url}/${file}`);
      return page;
    },
  };
}

// Saves a screenshot of `page` as artifacts/NAME.png.
export const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`) });

// Waits until the element matching `selector` reads exactly `text`.
export const textOf = (page, selector, text) =>
  page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent === t, [selector, text],
    { timeout: TIMEOUT_MS });

// Waits until a line of the page's #log reads exactly `text`.
export const logShows = (page, text) => page.locator("#log").getByText(text, { exact: true }).first().waitFor();

// Fills the inputs named by `fields` (id: value) and presses the button of form `form`.
export async function submit(page, form, fields) {
  for (const [id, value] of Object.entries(fields)) await page.fill(`#${id}`, value);
  await page.click(`#${form} button`);
}
