// The console in a real Chromium against the real product on SQLite, with the provider simulator: an admin sets
// up a channel, two agents and a supervisor work a client's conversation live. Every step waits for what a user
// would see (roles, labels, texts); nothing sleeps a fixed time.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, graphql, seriousViolations, start } from "./harness.mjs";

const NUMBER = "+14155550100";
const KEY = "sim-key-browser-0001";
const CLIENT = "+34600000001";
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const WAIT = 20000;
const SHOTS = process.env.UPDATE_SCREENSHOTS ? join(ROOT, "docs", "screenshots") : join(ROOT, "tests", "browser", "out");
const PASSWORDS = { a: "agent-a-password-1", b: "agent-b-password-1", s: "supervisor-password-1" };

let h;
const pages = {};
const pageErrors = [];

async function newPage(viewport = DESKTOP) {
  const context = await h.browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => pageErrors.push(`${e.message}`));
  page.on("console", (m) => {
    // A WebSocket that cannot connect while the browser is offline is expected; nothing else may be logged as an
    // error (a Content-Security-Policy refusal, a failed module, a script error).
    if (m.type() === "error" && !/WebSocket|ERR_INTERNET_DISCONNECTED/.test(m.text())) pageErrors.push(`${m.text()} (${m.location().url})`);
  });
  return page;
}

async function signIn(page, email, password) {
  await page.goto(h.console);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

async function accessible(page, what) {
  const violations = await seriousViolations(page);
  assert.deepEqual(violations, [], `${what}: serious accessibility violations`);
}

async function noSidewaysScroll(page, what) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `${what}: the page is ${scroll}px wide in a ${width}px window`);
}

async function shot(page, name, fullPage = false) {
  mkdirSync(SHOTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

/** The seconds a countdown shows ("12 s left"). */
async function secondsShown(timer) {
  const text = await timer.textContent();
  const m = /(\d+) s left/.exec(text || "");
  assert.ok(m, `a countdown in seconds, got "${text}"`);
  return Number(m[1]);
}

describe("the console", () => {
  before(async () => {
    h = await start({ numbers: { [NUMBER]: KEY } });
  });
  afterEach(() => {
    assert.deepEqual(pageErrors.splice(0), [], "errors in the pages' consoles");
  });
  after(async () => {
    await h?.stop();
  });

  test("an admin sets up a channel: users, review errors first, then create, a verified number, agents", async () => {
    const admin = (pages.admin = await newPage());
    await admin.goto(h.console);
    await admin.getByRole("heading", { name: "Sign in" }).waitFor();
    await accessible(admin, "sign-in page");
    await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
    await admin.getByRole("heading", { name: "Channels" }).waitFor();
    await admin.getByRole("status").filter({ hasText: "0 channels" }).waitFor();
    await accessible(admin, "channels list");

    await admin.getByRole("link", { name: "Users" }).click();
    for (const [name, email, password, role] of [
      ["Alice Agent", "alice@example.com", PASSWORDS.a, "Agent"],
      ["Bob Agent", "bob@example.com", PASSWORDS.b, "Agent"],
      ["Sam Supervisor", "sam@example.com", PASSWORDS.s, "Supervisor"],
    ]) {
      await admin.getByLabel("Name", { exact: true }).fill(name);
      await admin.getByLabel("Email", { exact: true }).fill(email);
      await admin.getByLabel("Password", { exact: true }).fill(password);
      await admin.getByLabel("Role").selectOption({ label: role });
      await admin.getByRole("button", { name: "Create user" }).click();
      await admin.getByRole("cell", { name: email }).waitFor();
    }
    await admin.getByLabel("New busy reason").fill("Lunch");
    await admin.getByRole("button", { name: "Add busy reason" }).click();
    await admin.getByRole("button", { name: "Archive Lunch" }).waitFor();
    await accessible(admin, "users page");

    await admin.getByRole("link", { name: "Channels" }).click();
    await admin.getByRole("link", { name: "New channel" }).click();
    await admin.getByRole("heading", { name: "New channel" }).waitFor();
    // Everything wrong at once: no name, a bad URL, no alerting timeout without auto answer.
    await admin.getByLabel("API URL").fill("not a url");
    await admin.getByLabel("Alerting timeout (s)").fill("");
    await admin.getByRole("button", { name: "Review" }).click();
    const problems = admin.getByRole("alert").filter({ hasText: "problems to fix" });
    await problems.waitFor();
    const listed = await problems.getByRole("listitem").allTextContents();
    for (const field of ["name", "apiUrl", "alertingTimeout"]) {
      assert.ok(listed.some((l) => l.startsWith(`${field}:`)), `the review names ${field}: ${listed.join(" | ")}`);
    }
    await accessible(admin, "new channel with review errors");

    await admin.getByLabel("Name", { exact: true }).fill("Sales");
    await admin.getByLabel("API URL").fill(h.simUrl);
    await admin.getByLabel("Alerting timeout (s)").fill("30");
    await admin.getByLabel("Wrap-up codes (one per line)").fill("Sale\nNo sale");
    await admin.getByRole("button", { name: "Review" }).click();
    await admin.getByRole("heading", { name: "Review the channel" }).waitFor();
    assert.equal(await problems.count(), 0, "no problems once fixed");
    await admin.getByText("Sale, No sale").waitFor();
    await admin.getByRole("button", { name: "Create channel" }).click();

    await admin.getByRole("heading", { name: "Phone numbers" }).waitFor();
    await admin.getByLabel("Phone number", { exact: true }).fill(NUMBER);
    await admin.getByLabel("API key", { exact: true }).fill(KEY);
    await admin.getByRole("button", { name: "Add number" }).click();
    const row = admin.getByRole("row").filter({ hasText: NUMBER });
    await row.getByText("Unverified").waitFor();
    assert.ok(!(await row.textContent()).includes(KEY), "the key is never shown, only its end");
    await admin.getByRole("button", { name: `Verify ${NUMBER}` }).click();
    await row.getByText("Verified", { exact: true }).waitFor();
    await accessible(admin, "phone numbers");
    await admin.getByRole("button", { name: `Disable ${NUMBER}` }).click();
    await row.getByText("Disabled").waitFor();
    await admin.getByRole("button", { name: `Delete ${NUMBER}` }).click();
    await admin.getByText("No active numbers.").waitFor();
    await admin.getByRole("tab", { name: "Deleted" }).click();
    await admin.getByRole("button", { name: `Restore ${NUMBER}` }).click();
    await admin.getByText("No deleted numbers.").waitFor();
    await admin.getByRole("tab", { name: "Active" }).click();
    await admin.getByRole("button", { name: `Enable ${NUMBER}` }).click();
    await row.getByText("Enabled").waitFor();

    await admin.getByRole("link", { name: "Agents" }).click();
    for (const name of ["Alice Agent", "Bob Agent"]) {
      await admin.getByLabel("Add agent").selectOption({ label: `${name} (${name.split(" ")[0].toLowerCase()}@example.com)` });
      await admin.getByRole("button", { name: "Add to channel" }).click();
      await admin.getByRole("button", { name: `Remove ${name}` }).waitFor();
    }

    await admin.getByRole("link", { name: "Settings" }).click();
    const webhook = admin.getByLabel("Webhook URL");
    await webhook.waitFor();
    h.webhookUrl = await webhook.inputValue();
    assert.match(h.webhookUrl, /^http:\/\/127\.0\.0\.1:\d+\/webhooks\/nova\//);
    // The rule between auto answer and the alerting timeout, as the form shows it.
    await admin.getByLabel("Auto answer").check();
    assert.equal(await admin.getByLabel("Alerting timeout (s)").isDisabled(), true);
    await admin.getByLabel("Auto answer").uncheck();
    assert.equal(await admin.getByLabel("Alerting timeout (s)").inputValue(), "30");
    await admin.getByLabel("Utilization %").fill("40");
    await admin.getByRole("button", { name: "Save settings" }).click();
    await admin.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    await accessible(admin, "channel settings");
    await shot(admin, "channel-settings", true);

    await admin.getByRole("link", { name: "Channels" }).first().click();
    await admin.getByLabel("Search channels").fill("sal");
    await admin.getByRole("status").filter({ hasText: "1 channel matching “sal”" }).waitFor();
    await admin.getByLabel("Search channels").fill("nothing like it");
    await admin.getByRole("status").filter({ hasText: "0 channels" }).waitFor();

    await admin.getByRole("link", { name: "Chatbots" }).click();
    await admin.getByLabel("Name", { exact: true }).fill("Greeter");
    await admin.getByRole("button", { name: "Create chatbot" }).click();
    await admin.getByRole("button", { name: "Rotate credentials of Greeter" }).click();
    const secret = admin.getByRole("alert").filter({ hasText: "shown only now" });
    await secret.waitFor();
    assert.ok((await secret.getByLabel("Bot token").inputValue()).length > 20);
    await accessible(admin, "chatbots");
    await secret.getByRole("button", { name: "I have copied them" }).click();
    await secret.waitFor({ state: "detached" });
  });

  test("a client writes: A rejects the ringing offer, B accepts, replies, goes offline and back, resolves with a code; the supervisor watches live", async () => {
    const a = (pages.a = await newPage());
    // Alice signs in with the keyboard alone.
    await a.goto(h.console);
    await a.getByLabel("Email").waitFor();
    await a.keyboard.press("Tab");
    await a.keyboard.type("alice@example.com");
    await a.keyboard.press("Tab");
    await a.keyboard.type(PASSWORDS.a);
    await a.keyboard.press("Enter");
    await a.getByRole("heading", { name: "Desktop" }).waitFor();
    await a.getByTestId("my-status").filter({ hasText: "Busy, system" }).waitFor();

    const b = (pages.b = await newPage());
    await signIn(b, "bob@example.com", PASSWORDS.b);
    await b.getByRole("heading", { name: "Desktop" }).waitFor();

    const s = (pages.s = await newPage());
    await signIn(s, "sam@example.com", PASSWORDS.s);
    await s.getByRole("heading", { name: "Supervisor" }).waitFor();
    const agents = s.getByRole("table", { name: "Agents" });
    await agents.getByRole("row").filter({ hasText: "Alice Agent" }).filter({ hasText: "Busy (system)" }).waitFor();

    await a.getByRole("combobox", { name: /^Status/ }).selectOption({ label: "Online" });
    await a.getByTestId("my-status").filter({ hasText: "Online" }).waitFor();
    await agents.getByRole("row").filter({ hasText: "Alice Agent" }).filter({ hasText: "Online (idle)" }).waitFor();

    await h.clientWrites({ webhookUrl: h.webhookUrl, key: KEY, to: NUMBER, from: CLIENT, text: "Hello, I need help", name: "Ana" });

    const offer = a.getByRole("region", { name: `Offer from Ana (${CLIENT})` });
    await offer.waitFor();
    const timer = offer.getByRole("timer", { name: "Time left to accept" });
    const first = await secondsShown(timer);
    assert.ok(first > 0 && first <= 30, `the countdown starts from the server's 30 s deadline: ${first}`);
    await a.waitForFunction(
      ([el, shown]) => {
        const m = /(\d+) s left/.exec(el.textContent);
        return m && Number(m[1]) < shown;
      },
      [await timer.elementHandle(), first],
    );
    await s.getByRole("table", { name: /Queue/ }).getByRole("row").filter({ hasText: "Ana" }).filter({ hasText: "Ringing for Alice Agent" }).waitFor();
    await accessible(a, "desktop with an offer");
    await offer.getByRole("button", { name: "Reject" }).click();
    await offer.waitFor({ state: "detached" });

    // Alice is excluded from this wait and Bob is busy: the client waits in the queue, live on the wallboard.
    const queueRow = s.getByRole("table", { name: /Queue/ }).getByRole("row").filter({ hasText: "Ana" });
    await queueRow.filter({ hasText: "In queue" }).waitFor();
    await s.getByRole("heading", { name: "Queue (1 waiting)" }).waitFor();

    await b.getByRole("combobox", { name: /^Status/ }).selectOption({ label: "Online" });
    const offerB = b.getByRole("region", { name: `Offer from Ana (${CLIENT})` });
    await offerB.getByRole("timer", { name: "Time left to accept" }).waitFor();
    await offerB.getByRole("button", { name: "Accept" }).click();
    await offerB.waitFor({ state: "detached" });

    const inProgress = s.getByRole("table", { name: "Conversations in progress" });
    await inProgress.getByRole("row").filter({ hasText: "Bob Agent" }).filter({ hasText: "Interacting" }).waitFor();
    await agents.getByRole("row").filter({ hasText: "Bob Agent" }).filter({ hasText: "Online (interacting)" }).waitFor();
    await s.getByRole("heading", { name: "Queue (0 waiting)" }).waitFor();

    await b.getByRole("button", { name: new RegExp(`Ana \\(\\${CLIENT}\\)`) }).click();
    const log = b.getByRole("log", { name: "Messages" });
    await log.getByText("Hello, I need help").waitFor();
    await b.getByLabel("Reply").fill("Hi Ana, how can I help?");
    await b.getByRole("button", { name: "Send" }).click();
    const sent = await h.sim.waitForLine((l) => l.startsWith("sent ") && l.includes("Hi Ana, how can I help?"));
    assert.ok(sent.includes(`${NUMBER} -> ${CLIENT}`), `the provider got the reply from our number to the client: ${sent}`);
    await log.getByRole("listitem").filter({ hasText: "Hi Ana, how can I help?" }).getByRole("img", { name: "sent" }).waitFor();
    await accessible(b, "desktop with a conversation");
    await shot(b, "agent-desktop");
    await s.locator(".figure").filter({ hasText: "Answered today" }).getByRole("definition").filter({ hasText: /^1$/ }).waitFor();
    await accessible(s, "supervisor");
    await shot(s, "supervisor");

    // Bob's browser goes offline; the client writes meanwhile; back online, the desktop replays what it missed.
    await b.context().setOffline(true);
    await b.getByRole("status").filter({ hasText: "reconnecting" }).waitFor();
    await h.clientWrites({ webhookUrl: h.webhookUrl, key: KEY, to: NUMBER, from: CLIENT, text: "Are you still there?" });
    const token = (await graphql(h.url, null, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`, { e: ADMIN_EMAIL, p: ADMIN_PASSWORD })).login.token;
    for (;;) {
      const d = await graphql(h.url, token, `query { conversations(status: OPEN, first: 5) { nodes { messages { text } } } }`);
      if (d.conversations.nodes.some((c) => c.messages.some((m) => m.text === "Are you still there?"))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await log.getByText("Are you still there?").count(), 0, "offline, the message has not reached the page");
    await b.context().setOffline(false);
    await log.getByText("Are you still there?").waitFor();
    await b.getByRole("status").filter({ hasText: "reconnecting" }).waitFor({ state: "detached" });

    await b.getByRole("button", { name: "Resolve" }).click();
    await b.getByText("Pick a wrap-up code").waitFor();
    await b.getByLabel("Wrap-up code").selectOption({ label: "Sale" });
    await b.getByRole("button", { name: "Save wrap-up code" }).click();
    await b.getByText("No conversations.").waitFor();
    await agents.getByRole("row").filter({ hasText: "Bob Agent" }).filter({ hasText: "1 answered" }).waitFor();
    await agents.getByRole("row").filter({ hasText: "Alice Agent" }).filter({ hasText: "1 rejected" }).waitFor();

    // The same screens on a phone-sized window: nothing runs off the side.
    const phone = await newPage(PHONE);
    await signIn(phone, "sam@example.com", PASSWORDS.s);
    await phone.getByRole("table", { name: "Agents" }).waitFor();
    await noSidewaysScroll(phone, "supervisor on a phone");
    await phone.getByRole("link", { name: "Desktop" }).click();
    await phone.getByRole("combobox", { name: /^Status/ }).waitFor();
    await noSidewaysScroll(phone, "desktop on a phone");
  });

  test("sign-in: throttling shows its wait; a reset password must be changed at the next sign-in", async () => {
    const page = await newPage();
    await page.goto(h.console);
    for (let i = 0; i < 6; i++) {
      await page.getByLabel("Email").fill("nobody@example.com");
      await page.getByLabel("Password", { exact: true }).fill(`wrong-password-${i}`);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").waitFor();
    }
    const alert = page.getByRole("alert").filter({ hasText: "Too many sign-in attempts" });
    await alert.waitFor();
    assert.ok((await secondsShown(alert.getByRole("timer", { name: "Time until you can try again" }))) > 0);

    const admin = pages.admin;
    await admin.getByRole("link", { name: "Users" }).click();
    await admin.getByRole("button", { name: "Reset password of Alice Agent" }).click();
    const temporary = await admin.getByLabel("Temporary password", { exact: true }).inputValue();
    assert.ok(temporary.length >= 10);
    // Alice's desktop is signed out at once: her sessions were revoked.
    await pages.a.getByRole("heading", { name: "Sign in" }).waitFor();

    await page.goto(h.console);
    await signInExpectingChange(page, "alice@example.com", temporary);
    await page.getByLabel("New password").fill("alice-new-password-2");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("heading", { name: "Desktop" }).waitFor();
  });
});

async function signInExpectingChange(page, email, password) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Change your password" }).waitFor();
  await accessible(page, "forced password change");
}
