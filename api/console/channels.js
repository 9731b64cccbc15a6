// Admin screens of channels: the list, the create form with its review step, and one channel's settings,
// phone numbers, wrap-up codes, agents and service level.
import { useEffect, useState } from "preact/hooks";
import { ErrorBox, copyText, gql, html, time, useAction, useData, useDebounced, useLive, words } from "./ui.js";

const PAGE = 10;
const CONVERSATION_TYPES = ["CHAT", "CALL", "EMAIL", "SOCIAL_MEDIA"];
const CHANNEL_FIELDS = `id name conversationType canWriteFirst provider apiUrl webhookUrl utilization
  autoAssignmentLimit autoAnswer alertingTimeout chatbotTimeout wrapUpTimeout chatbot { id name }
  serviceLevel { targetSeconds shortAbandonSeconds abandonPolicy }`;

export function ChannelsPage() {
  const [search, setSearch] = useState("");
  const [applied, setApplied] = useState("");
  const [cursors, setCursors] = useState([null]);
  const after = cursors[cursors.length - 1];
  const list = useData(
    () =>
      gql(
        `query($first: Int, $after: String, $q: String) {
          channels(first: $first, after: $after, nameContains: $q) {
            totalCount pageInfo { hasNextPage endCursor }
            nodes { id name conversationType autoAnswer agents { id } phoneNumbers { id } }
          }
        }`,
        { first: PAGE, after, q: applied || null },
      ),
    [after, applied],
  );
  const apply = useDebounced(() => {
    setCursors([null]);
    setApplied(search.trim());
  }, 300);
  useEffect(apply, [search]);
  const page = list.data && list.data.channels;
  return html`<h1>Channels</h1>
    <div class="toolbar">
      <label>Search channels <input type="search" value=${search} onInput=${(e) => setSearch(e.target.value)} /></label>
      <a class="button" href="#/channels/new">New channel</a>
    </div>
    <${ErrorBox} error=${list.error} />
    ${page &&
    html`<p role="status">${page.totalCount} ${page.totalCount === 1 ? "channel" : "channels"}${applied ? ` matching “${applied}”` : ""}</p>
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Numbers</th><th scope="col">Agents</th><th scope="col">Answer</th></tr></thead>
        <tbody>
          ${page.nodes.map(
            (c) => html`<tr>
              <td><a href=${`#/channels/${c.id}`}>${c.name}</a></td>
              <td>${words(c.conversationType)}</td>
              <td>${c.phoneNumbers.length}</td>
              <td>${c.agents.length}</td>
              <td>${c.autoAnswer ? "Automatic" : "Agent accepts"}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      <div class="toolbar">
        <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page</button>
        <button type="button" disabled=${!page.pageInfo.hasNextPage} onClick=${() => setCursors([...cursors, page.pageInfo.endCursor])}>Next page</button>
      </div>`}`;
}

/** The account's chatbots and its users who can be agents, for the channel forms. */
function usePickLists() {
  return useData(() =>
    gql(`query { chatbots { id name } users { id name email role active } }`).then((d) => ({
      chatbots: d.chatbots,
      agents: d.users.filter((u) => u.active && (u.role === "AGENT" || u.role === "SUPERVISOR")),
    })),
  );
}

const num = (v) => (v === "" || v === null || v === undefined ? null : Number(v));

/** The fields every channel form shares; `form` holds strings and booleans as typed. */
function HandlingFields({ form, set, chatbots }) {
  const field = (name) => ({ value: form[name], onInput: (e) => set({ [name]: e.target.value }) });
  return html`<fieldset>
      <legend>Basic</legend>
      <label>Name <input required maxlength="100" ...${field("name")} /></label>
      <label>Chatbot
        <select ...${field("chatbotId")} onChange=${(e) => set({ chatbotId: e.target.value })}>
          <option value="">No chatbot</option>
          ${chatbots.map((b) => html`<option value=${b.id}>${b.name}</option>`)}
        </select>
      </label>
      ${form.chatbotId && html`<label>Chatbot timeout (s) <input type="number" min="5" max="86400" ...${field("chatbotTimeout")} /></label>`}
      <label>Conversation type
        <select ...${field("conversationType")} onChange=${(e) => set({ conversationType: e.target.value })}>
          ${CONVERSATION_TYPES.map((t) => html`<option value=${t}>${words(t)}</option>`)}
        </select>
      </label>
      <label class="check"><input type="checkbox" checked=${form.canWriteFirst} onChange=${(e) => set({ canWriteFirst: e.target.checked })} /> Can write first to a new client</label>
    </fieldset>
    <fieldset>
      <legend>Provider</legend>
      <label>Provider
        <select value="NOVA_CHATS_CONNECTOR" disabled=${false}><option value="NOVA_CHATS_CONNECTOR">Nova.ChatsConnector</option></select>
      </label>
      <label>API URL <input type="url" placeholder="https://api.example.com" ...${field("apiUrl")} /></label>
    </fieldset>
    <fieldset>
      <legend>Conversation handling</legend>
      <label>Utilization % <input type="number" min="0" max="100" ...${field("utilization")} /></label>
      <p class="hint">How much of an agent one conversation occupies; agents get new ones while their total stays within 100.</p>
      <label>Auto-assignment limit <input type="number" min="1" ...${field("autoAssignmentLimit")} /></label>
      <label class="check"><input type="checkbox" checked=${form.autoAnswer}
        onChange=${(e) => set({ autoAnswer: e.target.checked, alertingTimeout: e.target.checked ? "" : form.alertingTimeout || "30" })} /> Auto answer</label>
      <label>Alerting timeout (s)
        <input type="number" min="5" disabled=${form.autoAnswer} aria-describedby="alerting-hint" ...${field("alertingTimeout")} />
      </label>
      <p class="hint" id="alerting-hint">${form.autoAnswer ? "Not used with auto answer: conversations are accepted on assignment." : "Required without auto answer: how long an offer rings (at least 5 s)."}</p>
      <label>Wrap-up timeout (s) <input type="number" min="1" placeholder="no limit" ...${field("wrapUpTimeout")} /></label>
    </fieldset>`;
}

function channelInput(form) {
  return {
    name: form.name.trim(),
    chatbotId: form.chatbotId || null,
    chatbotTimeout: num(form.chatbotTimeout) ?? 60,
    conversationType: form.conversationType,
    canWriteFirst: form.canWriteFirst,
    provider: "NOVA_CHATS_CONNECTOR",
    apiUrl: form.apiUrl.trim(),
    utilization: num(form.utilization),
    autoAssignmentLimit: num(form.autoAssignmentLimit),
    autoAnswer: form.autoAnswer,
    alertingTimeout: form.autoAnswer ? null : num(form.alertingTimeout),
    wrapUpTimeout: num(form.wrapUpTimeout),
  };
}

/** Empty required numbers cannot travel as `Int!`: they are reported here, next to the server's findings. */
function localProblems(input) {
  const problems = [];
  for (const field of ["utilization", "autoAssignmentLimit"]) {
    if (input[field] === null) {
      problems.push({ field, code: "REQUIRED", message: `${field} is required` });
      input[field] = 1;
    }
  }
  return problems;
}

export function NewChannelPage() {
  const lists = usePickLists();
  const [form, setForm] = useState({
    name: "",
    chatbotId: "",
    chatbotTimeout: "60",
    conversationType: "CHAT",
    canWriteFirst: false,
    apiUrl: "",
    utilization: "50",
    autoAssignmentLimit: "2",
    autoAnswer: false,
    alertingTimeout: "30",
    wrapUpTimeout: "",
    wrapUpCodes: "",
    agentIds: [],
  });
  const [review, setReview] = useState(null);
  const set = (patch) => {
    setForm({ ...form, ...patch });
    setReview(null);
  };
  const full = () => {
    const input = channelInput(form);
    input.wrapUpCodes = form.wrapUpCodes.split("\n").map((s) => s.trim()).filter(Boolean);
    input.agentIds = form.agentIds;
    return input;
  };
  const reviewAction = useAction(async () => {
    const input = full();
    const local = localProblems(input);
    const d = await gql(
      `mutation($input: ChannelInput!) { reviewChannel(input: $input) { valid errors { field code message }
        channel { name conversationType canWriteFirst apiUrl utilization autoAssignmentLimit autoAnswer alertingTimeout
          wrapUpCodes wrapUpTimeout chatbotTimeout chatbot { name } agents { name } } } }`,
      { input },
    );
    const errors = [...local, ...d.reviewChannel.errors.filter((e) => !local.some((l) => l.field === e.field))];
    setReview({ errors, channel: errors.length ? null : d.reviewChannel.channel });
  });
  const create = useAction(async () => {
    const d = await gql(`mutation($input: ChannelInput!) { createChannel(input: $input) { id } }`, { input: full() });
    location.hash = `#/channels/${d.createChannel.id}/numbers`;
  });
  if (!lists.data) return html`<h1>New channel</h1><${ErrorBox} error=${lists.error} />`;
  const agents = lists.data.agents;
  return html`<h1>New channel</h1>
    <form novalidate onSubmit=${(e) => (e.preventDefault(), reviewAction.run())}>
      <${HandlingFields} form=${form} set=${set} chatbots=${lists.data.chatbots} />
      <fieldset>
        <legend>Wrap-up codes</legend>
        <label>Wrap-up codes (one per line) <textarea rows="4" value=${form.wrapUpCodes} onInput=${(e) => set({ wrapUpCodes: e.target.value })}></textarea></label>
      </fieldset>
      <fieldset>
        <legend>Agents</legend>
        ${agents.length === 0 && html`<p>No agents yet: add users with the role Agent or Supervisor.</p>`}
        ${agents.map(
          (u) => html`<label class="check"><input type="checkbox" checked=${form.agentIds.includes(u.id)}
            onChange=${(e) => set({ agentIds: e.target.checked ? [...form.agentIds, u.id] : form.agentIds.filter((x) => x !== u.id) })} />
            ${u.name} (${u.email})</label>`,
        )}
      </fieldset>
      <button type="submit" disabled=${reviewAction.busy}>Review</button>
    </form>
    <${ErrorBox} error=${reviewAction.error} />
    ${review &&
    review.errors.length > 0 &&
    html`<section class="error" role="alert" aria-labelledby="problems">
      <h2 id="problems">${review.errors.length} ${review.errors.length === 1 ? "problem" : "problems"} to fix</h2>
      <ul>${review.errors.map((e) => html`<li><strong>${e.field}</strong>: ${e.message}</li>`)}</ul>
    </section>`}
    ${review &&
    review.channel &&
    html`<section class="review" aria-labelledby="review-title">
      <h2 id="review-title">Review the channel</h2>
      <dl>
        <dt>Name</dt><dd>${review.channel.name}</dd>
        <dt>Chatbot</dt><dd>${review.channel.chatbot ? review.channel.chatbot.name : "None"}</dd>
        <dt>Conversation type</dt><dd>${words(review.channel.conversationType)}</dd>
        <dt>Can write first</dt><dd>${review.channel.canWriteFirst ? "Yes" : "No"}</dd>
        <dt>API URL</dt><dd>${review.channel.apiUrl}</dd>
        <dt>Utilization</dt><dd>${review.channel.utilization} %</dd>
        <dt>Auto-assignment limit</dt><dd>${review.channel.autoAssignmentLimit}</dd>
        <dt>Auto answer</dt><dd>${review.channel.autoAnswer ? "Yes" : `No, offers ring ${review.channel.alertingTimeout} s`}</dd>
        <dt>Wrap-up codes</dt><dd>${review.channel.wrapUpCodes.join(", ") || "None"}</dd>
        <dt>Wrap-up timeout</dt><dd>${review.channel.wrapUpTimeout ? `${review.channel.wrapUpTimeout} s` : "No limit"}</dd>
        <dt>Agents</dt><dd>${review.channel.agents.map((a) => a.name).join(", ") || "None"}</dd>
      </dl>
      <${ErrorBox} error=${create.error} />
      <button type="button" disabled=${create.busy} onClick=${() => create.run()}>Create channel</button>
    </section>`}`;
}

const TABS = [
  ["settings", "Settings"],
  ["numbers", "Phone numbers"],
  ["codes", "Wrap-up codes"],
  ["agents", "Agents"],
  ["service", "Service level"],
];

export function ChannelPage({ id, tab }) {
  const channel = useData(() => gql(`query($id: ID!) { channel(id: $id) { ${CHANNEL_FIELDS} } }`, { id }).then((d) => d.channel), [id]);
  if (!channel.data) return html`<h1>Channel</h1><${ErrorBox} error=${channel.error} />`;
  const c = channel.data;
  return html`<p><a href="#/channels">All channels</a></p>
    <h1>${c.name}</h1>
    <nav aria-label="Channel sections" class="subnav">
      <ul>${TABS.map(([t, label]) => html`<li><a href=${`#/channels/${id}/${t}`} aria-current=${tab === t ? "page" : undefined}>${label}</a></li>`)}</ul>
    </nav>
    ${tab === "settings" && html`<${ChannelSettings} channel=${c} reload=${channel.reload} />`}
    ${tab === "numbers" && html`<${ChannelNumbers} channel=${c} />`}
    ${tab === "codes" && html`<${WrapUpCodes} channel=${c} />`}
    ${tab === "agents" && html`<${ChannelAgents} channel=${c} />`}
    ${tab === "service" && html`<${ServiceLevel} channel=${c} reload=${channel.reload} />`}`;
}

function ChannelSettings({ channel, reload }) {
  const lists = usePickLists();
  const initial = () => ({
    name: channel.name,
    chatbotId: channel.chatbot ? channel.chatbot.id : "",
    chatbotTimeout: String(channel.chatbotTimeout),
    conversationType: channel.conversationType,
    canWriteFirst: channel.canWriteFirst,
    apiUrl: channel.apiUrl,
    utilization: String(channel.utilization),
    autoAssignmentLimit: String(channel.autoAssignmentLimit),
    autoAnswer: channel.autoAnswer,
    alertingTimeout: channel.alertingTimeout === null ? "" : String(channel.alertingTimeout),
    wrapUpTimeout: channel.wrapUpTimeout === null ? "" : String(channel.wrapUpTimeout),
  });
  const [form, setForm] = useState(initial);
  const [saved, setSaved] = useState(false);
  const save = useAction(async () => {
    const input = channelInput(form);
    const local = localProblems(input);
    if (local.length) throw Object.assign(new Error("Some settings are missing"), { extensions: { errors: local } });
    await gql(`mutation($id: ID!, $input: ChannelUpdateInput!) { updateChannel(id: $id, input: $input) { id } }`, {
      id: channel.id,
      input,
    });
    setSaved(true);
    await reload();
  });
  const rotate = useAction(async () => {
    await gql(`mutation($id: ID!) { rotateWebhookUrl(channelId: $id) { id webhookUrl } }`, { id: channel.id });
    await reload();
  });
  const [copied, setCopied] = useState(false);
  if (!lists.data) return html`<${ErrorBox} error=${lists.error} />`;
  return html`<section aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <form novalidate onSubmit=${(e) => (e.preventDefault(), save.run())}>
        <${HandlingFields} form=${form} set=${(p) => (setForm({ ...form, ...p }), setSaved(false))} chatbots=${lists.data.chatbots} />
        <${ErrorBox} error=${save.error} />
        ${saved && html`<p role="status">Saved.</p>`}
        <button type="submit" disabled=${save.busy}>Save settings</button>
      </form>
    </section>
    <section aria-labelledby="webhook-title">
      <h2 id="webhook-title">Webhook</h2>
      <p>Give this URL to Nova.ChatsConnector: clients' messages and delivery statuses arrive on it.</p>
      <label>Webhook URL <input readonly value=${channel.webhookUrl} onFocus=${(e) => e.target.select()} /></label>
      <div class="toolbar">
        <button type="button" onClick=${() => copyText(channel.webhookUrl).then(() => setCopied(true))}>Copy webhook URL</button>
        <button type="button" disabled=${rotate.busy} onClick=${() => rotate.run()}>Rotate webhook URL</button>
        <span role="status">${copied ? "Copied." : ""}</span>
      </div>
      <p class="hint">Rotating issues a new URL; the old one stops working at once.</p>
      <${ErrorBox} error=${rotate.error} />
    </section>`;
}

function ChannelNumbers({ channel }) {
  const [state, setState] = useState("ACTIVE");
  const numbers = useData(
    () =>
      gql(
        `query($id: ID!, $state: NumberState!) { channel(id: $id) { phoneNumbers(state: $state) {
          id phoneNumber apiKeyHint enabled state verification verificationError lastVerifiedAt deletedAt } } }`,
        { id: channel.id, state },
      ).then((d) => d.channel.phoneNumbers),
    [channel.id, state],
  );
  const reload = useDebounced(numbers.reload, 150);
  useLive(
    `subscription($channelId: ID, $after: String) { channelEvents(channelId: $channelId, after: $after) { cursor kind } }`,
    { channelId: channel.id },
    "channelEvents",
    (e) => e.kind === "NUMBER_VERIFIED" && reload(),
    [channel.id],
  );
  const [phoneNumber, setPhone] = useState("");
  const [apiKey, setKey] = useState("");
  const add = useAction(async () => {
    await gql(`mutation($id: ID!, $input: PhoneNumberInput!) { addPhoneNumber(channelId: $id, input: $input) { id } }`, {
      id: channel.id,
      input: { phoneNumber, apiKey },
    });
    setPhone("");
    setKey("");
    setState("ACTIVE");
    await numbers.reload();
  });
  const act = useAction(async (mutation, variables) => {
    await gql(mutation, variables);
    await numbers.reload();
  });
  const tab = (value, label) =>
    html`<button type="button" role="tab" id=${`tab-${value}`} aria-selected=${state === value ? "true" : "false"}
      aria-controls="numbers-panel" tabindex=${state === value ? 0 : -1} onClick=${() => setState(value)}
      onKeyDown=${(e) => (e.key === "ArrowRight" || e.key === "ArrowLeft") && (setState(state === "ACTIVE" ? "DELETED" : "ACTIVE"), e.currentTarget.parentElement.querySelector(`[aria-selected="false"]`)?.focus())}>${label}</button>`;
  return html`<section aria-labelledby="numbers-title">
    <h2 id="numbers-title">Phone numbers</h2>
    <form class="inline" onSubmit=${(e) => (e.preventDefault(), add.run())}>
      <label>Phone number <input required placeholder="+14155550123" value=${phoneNumber} onInput=${(e) => setPhone(e.target.value)} /></label>
      <label>API key <input type="password" autocomplete="off" required value=${apiKey} onInput=${(e) => setKey(e.target.value)} /></label>
      <button type="submit" disabled=${add.busy}>Add number</button>
    </form>
    <${ErrorBox} error=${add.error} />
    <div role="tablist" aria-label="Number lists">${tab("ACTIVE", "Active")}${tab("DELETED", "Deleted")}</div>
    <div role="tabpanel" id="numbers-panel" aria-labelledby=${`tab-${state}`}>
      <${ErrorBox} error=${act.error || numbers.error} />
      ${numbers.data && numbers.data.length === 0 && html`<p>No ${state === "ACTIVE" ? "active" : "deleted"} numbers.</p>`}
      ${numbers.data &&
      numbers.data.length > 0 &&
      html`<table>
        <thead><tr><th scope="col">Number</th><th scope="col">API key</th><th scope="col">Verification</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          ${numbers.data.map(
            (n) => html`<tr>
              <td>${n.phoneNumber}</td>
              <td>…${n.apiKeyHint}</td>
              <td><span class=${`badge ${n.verification.toLowerCase()}`}>${words(n.verification)}</span>
                ${n.verificationError && html` <span class="hint">${n.verificationError}</span>`}
                ${n.lastVerifiedAt && html` <span class="hint">at ${time(n.lastVerifiedAt)}</span>`}</td>
              <td>${n.state === "DELETED" ? "Deleted" : n.enabled ? "Enabled" : "Disabled"}</td>
              <td class="actions">
                ${n.state === "ACTIVE"
                  ? html`<button type="button" aria-label=${`Verify ${n.phoneNumber}`} onClick=${() => act.run(`mutation($id: ID!) { verifyPhoneNumber(id: $id) { id } }`, { id: n.id })}>Verify</button>
                      <button type="button" aria-label=${`${n.enabled ? "Disable" : "Enable"} ${n.phoneNumber}`}
                        onClick=${() => act.run(`mutation($id: ID!, $on: Boolean!) { setPhoneNumberEnabled(id: $id, enabled: $on) { id } }`, { id: n.id, on: !n.enabled })}>${n.enabled ? "Disable" : "Enable"}</button>
                      <button type="button" aria-label=${`Delete ${n.phoneNumber}`} onClick=${() => act.run(`mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }`, { id: n.id })}>Delete</button>`
                  : html`<button type="button" aria-label=${`Restore ${n.phoneNumber}`} onClick=${() => act.run(`mutation($id: ID!) { restorePhoneNumber(id: $id) { id } }`, { id: n.id })}>Restore</button>`}
              </td>
            </tr>`,
          )}
        </tbody>
      </table>`}
    </div>
  </section>`;
}

function WrapUpCodes({ channel }) {
  const codes = useData(
    () => gql(`query($id: ID!) { channel(id: $id) { wrapUpCodes(includeArchived: true) { id name archived } } }`, { id: channel.id }).then((d) => d.channel.wrapUpCodes),
    [channel.id],
  );
  const [name, setName] = useState("");
  const [renaming, setRenaming] = useState({});
  const act = useAction(async (mutation, variables) => {
    await gql(mutation, variables);
    await codes.reload();
  });
  return html`<section aria-labelledby="codes-title">
    <h2 id="codes-title">Wrap-up codes</h2>
    <form class="inline" onSubmit=${(e) => (e.preventDefault(), act.run(`mutation($id: ID!, $name: String!) { addWrapUpCode(channelId: $id, name: $name) { id } }`, { id: channel.id, name }).then(() => setName("")))}>
      <label>New code <input required value=${name} onInput=${(e) => setName(e.target.value)} /></label>
      <button type="submit">Add code</button>
    </form>
    <${ErrorBox} error=${act.error || codes.error} />
    <ul class="rows">
      ${(codes.data || []).map(
        (c) => html`<li>
          <label>Name of ${c.name} <input value=${renaming[c.id] ?? c.name} onInput=${(e) => setRenaming({ ...renaming, [c.id]: e.target.value })} /></label>
          <button type="button" aria-label=${`Rename ${c.name}`} onClick=${() => act.run(`mutation($id: ID!, $name: String!) { renameWrapUpCode(id: $id, name: $name) { id } }`, { id: c.id, name: renaming[c.id] ?? c.name })}>Rename</button>
          <button type="button" aria-label=${`${c.archived ? "Restore" : "Archive"} ${c.name}`} onClick=${() => act.run(`mutation($id: ID!, $a: Boolean!) { archiveWrapUpCode(id: $id, archived: $a) { id } }`, { id: c.id, a: !c.archived })}>${c.archived ? "Restore" : "Archive"}</button>
          ${c.archived && html`<span class="hint">archived</span>`}
        </li>`,
      )}
    </ul>
  </section>`;
}

function ChannelAgents({ channel }) {
  const data = useData(
    () =>
      gql(`query($id: ID!) { channel(id: $id) { agents { id name email role } } users { id name email role active } }`, { id: channel.id }).then((d) => ({
        agents: d.channel.agents,
        candidates: d.users.filter((u) => u.active && (u.role === "AGENT" || u.role === "SUPERVISOR") && !d.channel.agents.some((a) => a.id === u.id)),
      })),
    [channel.id],
  );
  const [pick, setPick] = useState("");
  const act = useAction(async (mutation, variables) => {
    await gql(mutation, variables);
    setPick("");
    await data.reload();
  });
  if (!data.data) return html`<${ErrorBox} error=${data.error} />`;
  return html`<section aria-labelledby="agents-title">
    <h2 id="agents-title">Agents</h2>
    <form class="inline" onSubmit=${(e) => (e.preventDefault(), pick && act.run(`mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id } }`, { c: channel.id, u: pick }))}>
      <label>Add agent
        <select value=${pick} onChange=${(e) => setPick(e.target.value)}>
          <option value="">Choose a user</option>
          ${data.data.candidates.map((u) => html`<option value=${u.id}>${u.name} (${u.email})</option>`)}
        </select>
      </label>
      <button type="submit" disabled=${!pick}>Add to channel</button>
    </form>
    <${ErrorBox} error=${act.error} />
    <ul class="rows">
      ${data.data.agents.map(
        (a) => html`<li>${a.name} <span class="hint">${a.email}, ${a.role.toLowerCase()}</span>
          <button type="button" aria-label=${`Remove ${a.name}`} onClick=${() => act.run(`mutation($c: ID!, $u: ID!) { removeChannelAgent(channelId: $c, userId: $u) }`, { c: channel.id, u: a.id })}>Remove</button></li>`,
      )}
    </ul>
  </section>`;
}

function ServiceLevel({ channel, reload }) {
  const [form, setForm] = useState({
    targetSeconds: String(channel.serviceLevel.targetSeconds),
    shortAbandonSeconds: String(channel.serviceLevel.shortAbandonSeconds),
    abandonPolicy: channel.serviceLevel.abandonPolicy,
  });
  const [saved, setSaved] = useState(false);
  const save = useAction(async () => {
    await gql(`mutation($id: ID!, $input: ServiceLevelInput!) { setChannelServiceLevel(channelId: $id, input: $input) { id } }`, {
      id: channel.id,
      input: { targetSeconds: num(form.targetSeconds) ?? 0, shortAbandonSeconds: num(form.shortAbandonSeconds) ?? 0, abandonPolicy: form.abandonPolicy },
    });
    setSaved(true);
    await reload();
  });
  const set = (p) => (setForm({ ...form, ...p }), setSaved(false));
  return html`<section aria-labelledby="sl-title">
    <h2 id="sl-title">Service level</h2>
    <form onSubmit=${(e) => (e.preventDefault(), save.run())}>
      <label>Target (s) <input type="number" min="1" max="86400" value=${form.targetSeconds} onInput=${(e) => set({ targetSeconds: e.target.value })} /></label>
      <label>Short abandon (s) <input type="number" min="0" max="3600" value=${form.shortAbandonSeconds} onInput=${(e) => set({ shortAbandonSeconds: e.target.value })} /></label>
      <label>Abandons
        <select value=${form.abandonPolicy} onChange=${(e) => set({ abandonPolicy: e.target.value })}>
          <option value="COUNT_AS_MISSED">Count as missed</option>
          <option value="EXCLUDE_SHORT">Leave out short ones</option>
          <option value="EXCLUDE">Leave out</option>
        </select>
      </label>
      <${ErrorBox} error=${save.error} />
      ${saved && html`<p role="status">Saved.</p>`}
      <button type="submit" disabled=${save.busy}>Save service level</button>
    </form>
  </section>`;
}
