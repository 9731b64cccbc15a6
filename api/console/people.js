// Admin screens of chatbots, users and busy reasons.
import { useState } from "preact/hooks";
import { ErrorBox, gql, html, time, useAction, useData, words } from "./ui.js";

export function ChatbotsPage() {
  const bots = useData(() => gql(`query { chatbots { id name description endpointUrl enabled hasCredentials serving credentialsRotatedAt } }`).then((d) => d.chatbots));
  const [form, setForm] = useState({ name: "", endpointUrl: "", description: "" });
  const [shown, setShown] = useState(null);
  const [test, setTest] = useState(null);
  const create = useAction(async () => {
    await gql(`mutation($input: ChatbotInput!) { createChatbot(input: $input) { id } }`, {
      input: { name: form.name, endpointUrl: form.endpointUrl || null, description: form.description || null },
    });
    setForm({ name: "", endpointUrl: "", description: "" });
    await bots.reload();
  });
  const act = useAction(async (mutation, variables) => {
    const d = await gql(mutation, variables);
    await bots.reload();
    return d;
  });
  const rotate = async (bot) => {
    setShown(null);
    const d = await act.run(`mutation($id: ID!) { rotateChatbotCredentials(id: $id) { token signingSecret } }`, { id: bot.id });
    if (d) setShown({ name: bot.name, ...d.rotateChatbotCredentials });
  };
  const runTest = async (bot) => {
    setTest(null);
    const d = await act.run(`mutation($id: ID!) { testChatbot(id: $id) { ok statusCode latencyMs error } }`, { id: bot.id });
    if (d) setTest({ name: bot.name, ...d.testChatbot });
  };
  return html`<h1>Chatbots</h1>
    <form onSubmit=${(e) => (e.preventDefault(), create.run())}>
      <fieldset>
        <legend>New chatbot</legend>
        <label>Name <input required maxlength="100" value=${form.name} onInput=${(e) => setForm({ ...form, name: e.target.value })} /></label>
        <label>Endpoint URL <input type="url" value=${form.endpointUrl} onInput=${(e) => setForm({ ...form, endpointUrl: e.target.value })} /></label>
        <label>Description <input maxlength="1000" value=${form.description} onInput=${(e) => setForm({ ...form, description: e.target.value })} /></label>
        <button type="submit" disabled=${create.busy}>Create chatbot</button>
      </fieldset>
    </form>
    <${ErrorBox} error=${create.error || act.error || bots.error} />
    ${shown &&
    html`<section class="secret" role="alert" aria-labelledby="creds-title">
      <h2 id="creds-title">New credentials of ${shown.name}: shown only now</h2>
      <p>Copy them into the chatbot's configuration; they cannot be shown again.</p>
      <label>Bot token <input readonly value=${shown.token} /></label>
      <label>Signing secret <input readonly value=${shown.signingSecret} /></label>
      <button type="button" onClick=${() => setShown(null)}>I have copied them</button>
    </section>`}
    ${test &&
    html`<p role="status">Test of ${test.name}: ${test.ok ? `answered ${test.statusCode} in ${test.latencyMs} ms` : `failed: ${test.error || test.statusCode}`}</p>`}
    <table>
      <thead><tr><th scope="col">Name</th><th scope="col">Endpoint</th><th scope="col">State</th><th scope="col">Credentials</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${(bots.data || []).map(
          (b) => html`<tr>
            <td>${b.name}${b.description && html`<div class="hint">${b.description}</div>`}</td>
            <td>${b.endpointUrl || "—"}</td>
            <td>${b.serving ? "Serving" : b.enabled ? "Not serving" : "Disabled"}</td>
            <td>${b.hasCredentials ? `Set${b.credentialsRotatedAt ? ` ${new Date(b.credentialsRotatedAt).toLocaleString()}` : ""}` : "None"}</td>
            <td class="actions">
              <button type="button" aria-label=${`Rotate credentials of ${b.name}`} onClick=${() => rotate(b)}>Rotate credentials</button>
              ${b.hasCredentials && html`<button type="button" aria-label=${`Revoke credentials of ${b.name}`} onClick=${() => act.run(`mutation($id: ID!) { revokeChatbotCredentials(id: $id) { id } }`, { id: b.id })}>Revoke</button>`}
              <button type="button" aria-label=${`${b.enabled ? "Disable" : "Enable"} ${b.name}`} onClick=${() => act.run(`mutation($id: ID!, $on: Boolean) { updateChatbot(id: $id, input: { enabled: $on }) { id } }`, { id: b.id, on: !b.enabled })}>${b.enabled ? "Disable" : "Enable"}</button>
              <button type="button" aria-label=${`Test ${b.name}`} disabled=${!b.endpointUrl} onClick=${() => runTest(b)}>Test</button>
              <button type="button" aria-label=${`Delete ${b.name}`} onClick=${() => act.run(`mutation($id: ID!) { deleteChatbot(id: $id) }`, { id: b.id })}>Delete</button>
            </td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}

const ROLES = ["AGENT", "SUPERVISOR", "ADMIN"];

export function UsersPage({ me }) {
  const users = useData(() => gql(`query { users { id name email role active mustChangePassword agentState { status substatus since } } }`).then((d) => d.users));
  const [form, setForm] = useState({ name: "", email: "", password: "", role: "AGENT" });
  const [reset, setReset] = useState(null);
  const create = useAction(async () => {
    await gql(`mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`, { input: form });
    setForm({ name: "", email: "", password: "", role: form.role });
    await users.reload();
  });
  const act = useAction(async (mutation, variables) => {
    const d = await gql(mutation, variables);
    await users.reload();
    return d;
  });
  const doReset = async (u) => {
    const d = await act.run(`mutation($id: ID!) { resetUserPassword(userId: $id) { temporaryPassword } }`, { id: u.id });
    if (d) setReset({ name: u.name, password: d.resetUserPassword.temporaryPassword });
  };
  const set = (p) => setForm({ ...form, ...p });
  return html`<h1>Users</h1>
    <form onSubmit=${(e) => (e.preventDefault(), create.run())}>
      <fieldset>
        <legend>New user</legend>
        <label>Name <input required value=${form.name} onInput=${(e) => set({ name: e.target.value })} /></label>
        <label>Email <input type="email" required value=${form.email} onInput=${(e) => set({ email: e.target.value })} /></label>
        <label>Password <input type="password" autocomplete="new-password" required minlength="10" value=${form.password} onInput=${(e) => set({ password: e.target.value })} /></label>
        <label>Role
          <select value=${form.role} onChange=${(e) => set({ role: e.target.value })}>${ROLES.map((r) => html`<option value=${r}>${words(r)}</option>`)}</select>
        </label>
        <button type="submit" disabled=${create.busy}>Create user</button>
      </fieldset>
    </form>
    <${ErrorBox} error=${create.error || act.error || users.error} />
    ${reset &&
    html`<section class="secret" role="alert" aria-labelledby="reset-title">
      <h2 id="reset-title">Temporary password of ${reset.name}: shown only now</h2>
      <label>Temporary password <input readonly value=${reset.password} /></label>
      <button type="button" onClick=${() => setReset(null)}>Done</button>
    </section>`}
    <table>
      <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${(users.data || []).map(
          (u) => html`<tr>
            <td>${u.name}</td><td>${u.email}</td><td>${words(u.role)}</td>
            <td>${!u.active ? "Deactivated" : u.agentState ? words(u.agentState.status) : "Active"}${u.mustChangePassword ? ", must change password" : ""}</td>
            <td class="actions">
              ${u.active &&
              u.id !== me.id &&
              html`<button type="button" aria-label=${`Reset password of ${u.name}`} onClick=${() => doReset(u)}>Reset password</button>
                <button type="button" aria-label=${`Deactivate ${u.name}`} onClick=${() => act.run(`mutation($id: ID!) { deactivateUser(id: $id) { id } }`, { id: u.id })}>Deactivate</button>`}
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
    <${BusyReasons} />`;
}

function BusyReasons() {
  const reasons = useData(() => gql(`query { busyReasons { id name archived archivedAt } }`).then((d) => d.busyReasons));
  const [name, setName] = useState("");
  const [renaming, setRenaming] = useState({});
  const act = useAction(async (mutation, variables) => {
    await gql(mutation, variables);
    await reasons.reload();
  });
  return html`<section aria-labelledby="reasons-title">
    <h2 id="reasons-title">Busy reasons</h2>
    <form class="inline" onSubmit=${(e) => (e.preventDefault(), act.run(`mutation($name: String!) { createBusyReason(name: $name) { id } }`, { name }).then(() => setName("")))}>
      <label>New busy reason <input required maxlength="60" value=${name} onInput=${(e) => setName(e.target.value)} /></label>
      <button type="submit">Add busy reason</button>
    </form>
    <${ErrorBox} error=${act.error || reasons.error} />
    <ul class="rows">
      ${(reasons.data || []).map(
        (r) => html`<li>
          ${r.archived
            ? html`${r.name} <span class="hint">archived ${time(r.archivedAt)}</span>`
            : html`<label>Name of ${r.name} <input value=${renaming[r.id] ?? r.name} onInput=${(e) => setRenaming({ ...renaming, [r.id]: e.target.value })} /></label>
                <button type="button" aria-label=${`Rename ${r.name}`} onClick=${() => act.run(`mutation($id: ID!, $name: String!) { renameBusyReason(id: $id, name: $name) { id } }`, { id: r.id, name: renaming[r.id] ?? r.name })}>Rename</button>
                <button type="button" aria-label=${`Archive ${r.name}`} onClick=${() => act.run(`mutation($id: ID!) { archiveBusyReason(id: $id) { id } }`, { id: r.id })}>Archive</button>`}
        </li>`,
      )}
    </ul>
  </section>`;
}
