// The chat page (examples/web/chat.html) in headless Chromium with the Go chat: the refusal of a
// nameless client, then two people joining a room, talking, and one leaving.
import { describe, test } from "node:test";
import { goBuild } from "../e2e/harness.mjs";
import { logShows, noChromium, pagesOf, shot, submit, textOf } from "./pages.mjs";

describe("the chat page in Chromium, with the Go chat backend", { skip: noChromium }, () => {
  const pages = pagesOf(() => goBuild("chat"));
  const login = async (name) => {
    const page = await pages.open("chat.html");
    await submit(page, "login", { name });
    return page;
  };

  test("without a name the page shows the refusal and its hint", async () => {
    const page = await login("");
    await textOf(page, "#status", `refused: a name is required (connect with auth {"name": "..."})`);
    await shot(page, "chat-refused");
    await page.close();
  });

  test("two people join a room, see each other arrive, and talk", async () => {
    const ann = await login("ann");
    const bob = await login("bob");
    await textOf(ann, "#status", "connected as ann");
    await textOf(bob, "#status", "connected as bob");
    await submit(ann, "join", { join_room: "lobby" });
    await textOf(ann, "#rooms", "lobby");
    await submit(bob, "join", { join_room: "lobby" });
    await textOf(bob, "#rooms", "lobby");
    await logShows(ann, "[lobby] bob joined");
    await submit(ann, "send", { send_room: "lobby", send_text: "hello bob" });
    await logShows(bob, "[lobby] ann: hello bob");
    await logShows(ann, "[lobby] ann: hello bob");
    await submit(bob, "leave", { leave_room: "lobby" });
    await textOf(bob, "#rooms", "-");
    await logShows(ann, "[lobby] bob left");
    await submit(bob, "send", { send_room: "lobby", send_text: "still here?" });
    await logShows(bob, "join lobby first");
    await shot(ann, "chat-ann");
    await shot(bob, "chat-bob");
    await ann.close();
    await bob.close();
  });
});
