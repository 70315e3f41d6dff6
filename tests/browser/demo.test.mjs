// The demo page (examples/web/index.html) in Debian's headless Chromium,
// served by the sidecar and handled by the Go demo backend. Screenshots are
// saved in tests/browser/artifacts/ as test artifacts.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { goBuild, startExample } from "../e2e/harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, "artifacts");
const executablePath = process.env.CHROME_BIN ?? "/usr/bin/chromium";
const skip = fs.existsSync(executablePath) ? false : `${executablePath} not found (scripts/setup.sh installs chromium)`;

describe("the demo page in Chromium", { skip }, () => {
  let example;
  let browser;

  before(async () => {
    fs.mkdirSync(artifacts, { recursive: true });
    example = await startExample(goBuild("demo"), ["--interval=2"], [`--static_dir=${path.resolve(here, "../../examples/web")}`]);
    browser = await chromium.launch({
      executablePath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });

  after(async () => {
    await browser?.close();
    await example?.stop();
  });

  const log = (page) => page.locator("#log");
  const openPage = async () => {
    const page = await browser.newPage();
    await page.goto(`${example.url}/`);
    await page.waitForFunction(() => document.getElementById("status").textContent === "Connected", null, { timeout: 15000 });
    return page;
  };

  test("connects, upgrades to WebSocket, and echoes an event with the session's count", async () => {
    const page = await openPage();
    await assertLog(page, "Received #0: Connected");
    await page.waitForFunction(() => document.getElementById("transport").textContent === "(websocket)", null, { timeout: 15000 });
    await page.fill("#emit_data", "hello from chromium");
    await page.click("#emit button");
    await assertLog(page, "Received #1: hello from chromium");
    await page.screenshot({ path: path.join(artifacts, "demo-echo.png") });
    await page.close();
  });

  test("a room message sent from one page appears on another page in the room", async () => {
    const sender = await openPage();
    const receiver = await openPage();
    for (const page of [sender, receiver]) {
      await page.fill("#join_room", "browser-room");
      await page.click("#join button");
      await assertLog(page, "browser-room");
    }
    await sender.fill("#room_name", "browser-room");
    await sender.fill("#room_data", "hi from the other tab");
    await sender.click("#send_room button");
    await assertLog(receiver, "hi from the other tab");
    await receiver.screenshot({ path: path.join(artifacts, "demo-room-receiver.png") });
    await sender.screenshot({ path: path.join(artifacts, "demo-room-sender.png") });
    assert.ok(fs.statSync(path.join(artifacts, "demo-room-receiver.png")).size > 1000);
    await sender.close();
    await receiver.close();
  });

  async function assertLog(page, text) {
    await log(page).getByText(text).first().waitFor({ timeout: 15000 });
  }
});
