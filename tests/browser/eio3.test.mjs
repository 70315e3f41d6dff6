// The demo page with socket.io-client 2.2.0, the version Flask-SocketIO's documentation loads,
// served in place of the page's 4.x bundle, beside a 4.x page: Chromium -> sidecar with
// --allow_eio3 -> every built demo backend.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { demoBackends } from "../e2e/harness.mjs";
import { logShows, noChromium, pagesOf, shot, submit, textOf } from "./pages.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const client220 = path.join(here, "node_modules/sioc220/dist/socket.io.js");

for (const backend of demoBackends()) {
  const slug = backend.name.toLowerCase().replace("++", "pp");
  describe(`the demo page with socket.io-client 2.2.0 in Chromium, with the ${backend.name} demo backend`, { skip: noChromium || backend.skip }, () => {
    const pages = pagesOf(backend.binary, ["--interval=2"], ["--allow_eio3"]);
    const openDemo = async (options) => {
      const page = await pages.open("", options);
      await textOf(page, "#status", "Connected");
      await logShows(page, "Received #0: Connected");
      return page;
    };

    test("connects, upgrades, echoes, and shares a room with a 4.x page", async () => {
      const old = await openDemo({ client: client220 });
      assert.equal(await old.evaluate(() => io.protocol), 4, "the page runs Socket.IO protocol v4 (2.x)");
      await textOf(old, "#transport", "(websocket)");
      await submit(old, "emit", { emit_data: "hello from 2.2.0" });
      await logShows(old, "Received #1: hello from 2.2.0");

      const modern = await openDemo();
      const room = `browser-eio3-${slug}`;
      for (const page of [old, modern]) {
        await submit(page, "join", { join_room: room });
        await page.locator("#log").getByText(new RegExp(`^Received #\\d+: In rooms: .*${room}`)).first().waitFor();
      }
      await submit(modern, "send_room", { room_name: room, room_data: "from the 4.x page" });
      await old.locator("#log").getByText(/^Received #\d+: from the 4.x page$/).first().waitFor();
      await submit(old, "send_room", { room_name: room, room_data: "from the 2.2.0 page" });
      await modern.locator("#log").getByText(/^Received #\d+: from the 2.2.0 page$/).first().waitFor();
      await shot(old, `demo-eio3-${slug}`);
      await old.close();
      await modern.close();
    });
  });
}
