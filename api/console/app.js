// The console: sign-in, then the screens of the caller's role, routed by the URL's hash.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { getToken, setToken } from "./gql.js";
import { Countdown, ErrorBox, gql, html, useAction } from "./ui.js";
import { ChannelPage, ChannelsPage, NewChannelPage } from "./channels.js";
import { ChatbotsPage, UsersPage } from "./people.js";
import { DesktopPage } from "./desktop.js";
import { SupervisorPage } from "./supervisor.js";

const ME = `query { me { id name email role mustChangePassword } }`;

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash.replace(/^#/, "") || "/";
}

const HOME = { ADMIN: "/channels", SUPERVISOR: "/supervisor", AGENT: "/desktop" };
const NAV = {
  ADMIN: [
    ["/channels", "Channels"],
    ["/chatbots", "Chatbots"],
    ["/users", "Users"],
    ["/supervisor", "Supervisor"],
  ],
  SUPERVISOR: [
    ["/supervisor", "Supervisor"],
    ["/desktop", "Desktop"],
  ],
  AGENT: [["/desktop", "Desktop"]],
};

function SignIn({ onSignedIn }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [retryUntil, setRetryUntil] = useState(null);
  const action = useAction(async () => {
    const data = await gql(
      `mutation($email: String!, $password: String!) {
        login(email: $email, password: $password) { token user { id name email role mustChangePassword } }
      }`,
      { email, password },
    );
    setToken(data.login.token);
    onSignedIn(data.login.user, password);
  });
  const submit = async (e) => {
    e.preventDefault();
    await action.run();
  };
  useEffect(() => {
    const e = action.error;
    if (e && e.code === "TOO_MANY_ATTEMPTS" && e.extensions.retryAfter) {
      setRetryUntil(new Date(Date.now() + e.extensions.retryAfter * 1000).toISOString());
    }
  }, [action.error]);
  const throttled = action.error && action.error.code === "TOO_MANY_ATTEMPTS";
  return html`<main class="narrow" id="main">
    <h1>Sign in</h1>
    <form onSubmit=${submit}>
      <label>Email <input type="email" autocomplete="username" required value=${email} onInput=${(e) => setEmail(e.target.value)} /></label>
      <label>Password <input type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.target.value)} /></label>
      ${throttled
        ? html`<div class="error" role="alert">
            <p>Too many sign-in attempts. Try again in <${Countdown} deadline=${retryUntil} label="Time until you can try again" />.</p>
          </div>`
        : html`<${ErrorBox} error=${action.error} />`}
      <button type="submit" disabled=${action.busy}>Sign in</button>
    </form>
  </main>`;
}

function ChangePassword({ me, current, onDone, forced }) {
  const [currentPassword, setCurrent] = useState(current || "");
  const [newPassword, setNew] = useState("");
  const action = useAction(async () => {
    await gql(`mutation($c: String!, $n: String!) { changeMyPassword(currentPassword: $c, newPassword: $n) }`, {
      c: currentPassword,
      n: newPassword,
    });
    onDone();
  });
  const body = html`<h1>Change your password</h1>
    ${forced && html`<p>${me.name}, your password was reset: choose a new one to go on.</p>`}
    <form onSubmit=${(e) => (e.preventDefault(), action.run())}>
      <label>Current password <input type="password" autocomplete="current-password" required value=${currentPassword} onInput=${(e) => setCurrent(e.target.value)} /></label>
      <label>New password <input type="password" autocomplete="new-password" required minlength="10" value=${newPassword} onInput=${(e) => setNew(e.target.value)} /></label>
      <p class="hint">At least 10 characters, not easy to guess (your name and email count as easy).</p>
      <${ErrorBox} error=${action.error} />
      <button type="submit" disabled=${action.busy}>Change password</button>
    </form>`;
  return forced ? html`<main class="narrow" id="main">${body}</main>` : html`<div class="narrow">${body}</div>`;
}

function Shell({ me, signOut }) {
  const path = useHash();
  const nav = NAV[me.role] || [];
  useEffect(() => {
    if (path === "/") location.hash = `#${HOME[me.role] || "/desktop"}`;
  }, [path]);
  const parts = path.split("/").filter(Boolean);
  let page;
  if (parts[0] === "channels" && parts[1] === "new") page = html`<${NewChannelPage} />`;
  else if (parts[0] === "channels" && parts[1]) page = html`<${ChannelPage} id=${decodeURIComponent(parts[1])} tab=${parts[2] || "settings"} />`;
  else if (parts[0] === "channels") page = html`<${ChannelsPage} />`;
  else if (parts[0] === "chatbots") page = html`<${ChatbotsPage} />`;
  else if (parts[0] === "users") page = html`<${UsersPage} me=${me} />`;
  else if (parts[0] === "supervisor") page = html`<${SupervisorPage} me=${me} />`;
  else if (parts[0] === "desktop") page = html`<${DesktopPage} me=${me} />`;
  else if (parts[0] === "password") page = html`<${ChangePassword} me=${me} onDone=${() => (location.hash = "#/")} />`;
  else page = html`<p>Nothing here.</p>`;
  return html`<a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>Skip to content</a>
    <header class="top">
      <span class="brand">Contact center</span>
      <nav aria-label="Main">
        <ul>
          ${nav.map(
            ([href, label]) =>
              html`<li><a href=${`#${href}`} aria-current=${path.startsWith(href) ? "page" : undefined}>${label}</a></li>`,
          )}
        </ul>
      </nav>
      <span class="who">${me.name} (${me.role.toLowerCase()})</span>
      <a href="#/password">Password</a>
      <button type="button" class="link" onClick=${signOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">${page}</main>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(!!getToken());
  const [typedPassword, setTypedPassword] = useState(null);
  useEffect(() => {
    if (!getToken()) return;
    gql(ME)
      .then((d) => setMe(d.me))
      .catch(() => setToken(null))
      .finally(() => setChecking(false));
  }, []);
  useEffect(() => {
    const out = () => {
      setToken(null);
      setMe(null);
    };
    window.addEventListener("console:signed-out", out);
    return () => window.removeEventListener("console:signed-out", out);
  }, []);
  const signOut = async () => {
    try {
      await gql(`mutation { logout }`);
    } catch {
      // Signed out locally whatever the server says.
    }
    setToken(null);
    setMe(null);
    location.hash = "#/";
  };
  if (checking) return html`<main id="main"><p role="status">Loading…</p></main>`;
  if (!me)
    return html`<${SignIn}
      onSignedIn=${(user, password) => {
        setTypedPassword(password);
        setMe(user);
      }}
    />`;
  if (me.mustChangePassword)
    return html`<${ChangePassword} me=${me} current=${typedPassword} forced=${true} onDone=${() => setMe({ ...me, mustChangePassword: false })} />`;
  return html`<${Shell} me=${me} signOut=${signOut} />`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
