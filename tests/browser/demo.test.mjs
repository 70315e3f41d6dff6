// The demo page (examples/web/index.html) in headless Chromium, with every built port of
// Flask-SocketIO's example app: connect, upgrade, echo, and a room message between two pages.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { demoBackends } from "../e2e/harness.mjs";
import { artifacts, logShows, noChromium, pagesOf, shot, submit, textOf } from "./pages.mjs";

for (const backend of demoBackends()) {
  const slug = backend.name.toLowerCase().replace("++", "pp");
  describe(`the demo page in Chromium, with the ${backend.name} demo backend`, { skip: noChromium || backend.skip }, () => {
    const pages = pagesOf(backend.binary, ["--interval=2"]);
    // The page says Connected, and logs the backend's greeting.
    const openDemo = async () => {
      const page = await pages.open();
      await textOf(page, "#status", "Connected");
      await logShows(page, "Received #0: Connected");
      return page;
    };

    test("connects, upgrades to WebSocket, and echoes an event with the session's count", async () => {
      const page = await openDemo();
      await textOf(page, "#transport", "(websocket)");
      await submit(page, "emit", { emit_data: "hello from chromium" });
      await logShows(page, "Received #1: hello from chromium");
      await submit(page, "emit", { emit_data: "again" });
      await logShows(page, "Received #2: again");
      await shot(page, `demo-${slug}-echo`);
      await page.close();
    });

    test("a room message sent from one page appears on another page in the room", async () => {
      const sender = await openDemo();
      const receiver = await openDemo();
      const room = `browser-${slug}`;
      for (const page of [sender, receiver]) {
        await submit(page, "join", { join_room: room });
        await page.locator("#log").getByText(new RegExp(`^Received #\\d+: In rooms: .*${room}`)).first().waitFor();
      }
      await submit(sender, "send_room", { room_name: room, room_data: "hi from the other tab" });
      await receiver.locator("#log").getByText(/^Received #\d+: hi from the other tab$/).first().waitFor();
      await shot(receiver, `demo-${slug}-room-receiver`);
      await shot(sender, `demo-${slug}-room-sender`);
      assert.ok(fs.statSync(path.join(artifacts, `demo-${slug}-room-receiver.png`)).size > 1000, "a real screenshot");
      await sender.close();
      await receiver.close();
    });
  });
}
