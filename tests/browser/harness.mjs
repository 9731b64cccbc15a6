// Starts the real product (`app serve` on a fresh SQLite file) and the provider simulator as processes, on free
// ports, and the real Chromium of the machine; plays clients through the simulator's own CLI.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, "..", "..");
const BIN = join(process.env.CARGO_TARGET_DIR || join(ROOT, "target"), "debug");
export const ADMIN_EMAIL = "admin@example.com";
export const ADMIN_PASSWORD = "browser-admin-password-1";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A child process whose output is kept (and printed on failure) and whose stdout lines can be waited for. */
function child(name, args, env = {}) {
  const proc = spawn(join(BIN, name), args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  const waiters = [];
  let buffer = "";
  proc.stdout.on("data", (chunk) => {
    buffer += chunk;
    let i;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.test(line)) w.resolve(line);
    }
  });
  let stderr = "";
  proc.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-20000);
  });
  return {
    proc,
    lines,
    stderr: () => stderr,
    /** Resolves with the first stdout line (past or future) that `test` accepts; rejects after `ms`. */
    waitForLine(test, ms = 15000) {
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { test, resolve: (l) => (clearTimeout(timer), waiters.splice(waiters.indexOf(w), 1), resolve(l)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${name}: no line matching ${test} within ${ms} ms; lines: ${lines.join("\n")}`));
        }, ms);
        waiters.push(w);
      });
    },
    stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return new Promise((resolve) => (proc.exitCode !== null ? resolve() : proc.once("exit", resolve)));
    },
  };
}

async function waitReady(url, product) {
  const until = Date.now() + 60000;
  while (Date.now() < until) {
    if (product.proc.exitCode !== null) throw new Error(`the product exited: ${product.stderr()}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the product did not become ready: ${product.stderr()}`);
}

/** The product and the simulator with the given numbers (E164 -> key), plus a browser. */
export async function start({ numbers = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "console-browser-"));
  const [appPort, simPort] = [await freePort(), await freePort()];
  const simArgs = ["--listen", `127.0.0.1:${simPort}`];
  for (const [n, k] of Object.entries(numbers)) simArgs.push("--number", `${n}:${k}`);
  const sim = child("provider-sim", simArgs, { RUST_LOG: "warn" });
  await sim.waitForLine((l) => l.startsWith("provider simulator listening"));
  const url = `http://127.0.0.1:${appPort}`;
  const product = child("app", ["serve"], {
    APP_DATABASE_URL: `sqlite://${join(dir, "app.db")}?mode=rwc`,
    APP_LISTEN_ADDR: `127.0.0.1:${appPort}`,
    APP_DATA_DIR: dir,
    APP_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    APP_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    APP_WORKER_POLL_MS: "100",
    APP_REVERIFY_SCHEDULE: "off",
    RUST_LOG: "warn",
  });
  await waitReady(url, product);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true });
  return {
    url,
    console: `${url}/console`,
    simUrl: `http://127.0.0.1:${simPort}`,
    browser,
    sim,
    product,
    /** A client writes to one of our numbers: the simulator posts the signed webhook, as the provider would. */
    async clientWrites({ webhookUrl, key, to, from, text, name }) {
      const args = ["--send-message", "--webhook-url", webhookUrl, "--key", key, "--to", to, "--from", from, "--text", text];
      if (name) args.push("--contact-name", name);
      const post = child("provider-sim", args);
      const code = await new Promise((resolve) => post.proc.once("exit", resolve));
      const answer = post.lines.join("\n");
      if (code !== 0 || !/-> 2\d\d/.test(answer)) throw new Error(`the webhook was refused: ${answer} ${post.stderr()}`);
    },
    async stop() {
      await browser.close().catch(() => {});
      await product.stop();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const AXE = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");

/** Serious and critical accessibility violations of the page as it is now (axe, WCAG 2 A and AA rules). */
export async function seriousViolations(page) {
  // Evaluated through the DevTools protocol, so the console's Content-Security-Policy stays as served.
  await page.evaluate(`${AXE};0`);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** A GraphQL call as `token` (for the test's own setup checks, never instead of the UI under test). */
export async function graphql(url, token, query, variables = {}) {
  const r = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
