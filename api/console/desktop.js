// The agent desktop: status, offers with their countdown, my conversations with their messages, replies, hold,
// resolve and wrap-up, writing first; everything follows `myEvents` live and replays what it missed.
import { useEffect, useRef, useState } from "preact/hooks";
import { Countdown, ErrorBox, gql, html, time, useAction, useData, useDebounced, useLive, words } from "./ui.js";

const MY_STATE = `query { me { id agentState { status substatus since utilization conversationCount busyReason { id name } } }
  busyReasons { id name archived } }`;
const MY_CONVERSATIONS = `query($me: ID!) { conversations(assigneeId: $me, status: OPEN, first: 100) { nodes {
  id substatus offerDeadline wrapUpDeadline updatedAt contact { phoneNumber displayName }
  channel { id name wrapUpCodes { id name } } } } }`;
const CONVERSATION = `query($id: ID!) { conversation(id: $id) { id status substatus wrapUpDeadline
  contact { phoneNumber displayName } channel { name }
  messages(last: 100) { id direction text createdAt deliveryStatus deliveryError automatic sender { name } chatbot { name } } } }`;

const contactName = (c) => (c.displayName ? `${c.displayName} (${c.phoneNumber})` : c.phoneNumber);

export function DesktopPage({ me }) {
  const state = useData(() => gql(MY_STATE));
  const mine = useData(() => gql(MY_CONVERSATIONS, { me: me.id }).then((d) => d.conversations.nodes), [me.id]);
  const [selected, setSelected] = useState(null);
  const [messagesVersion, setMessagesVersion] = useState(0);
  const reload = useDebounced(() => {
    state.reload();
    mine.reload();
    setMessagesVersion((v) => v + 1);
  }, 100);
  const live = useLive(
    `subscription($after: String) { myEvents(after: $after) { cursor kind conversationId } }`,
    {},
    "myEvents",
    () => reload(),
    [me.id],
  );
  // Back from a reconnection, the subscription resumes after its last cursor: the events missed meanwhile
  // arrive first (or RESYNC_REQUIRED when they are gone), and each one reloads what it touched.
  const conversations = mine.data || [];
  const offers = conversations.filter((c) => c.substatus === "ALERTING");
  const held = conversations.filter((c) => c.substatus !== "ALERTING");
  useEffect(() => {
    if (selected && mine.data && !held.some((c) => c.id === selected)) setSelected(null);
  }, [mine.data]);
  return html`<h1>Desktop</h1>
    ${live === "reconnecting" &&
    html`<div class="banner" role="status">Connection lost: reconnecting… Missed events will be replayed.</div>`}
    ${live === "live" && html`<span class="visually-hidden" role="status">Connected</span>`}
    <${StatusControl} state=${state} />
    ${offers.map((c) => html`<${OfferCard} conversation=${c} onDone=${reload} key=${c.id} />`)}
    <div class="desk">
      <section aria-labelledby="mine-title" class="list">
        <h2 id="mine-title">My conversations</h2>
        <${ErrorBox} error=${mine.error} />
        ${held.length === 0 && html`<p>No conversations.</p>`}
        <ul class="rows">
          ${held.map(
            (c) => html`<li><button type="button" class="conversation" aria-pressed=${selected === c.id ? "true" : "false"} onClick=${() => setSelected(c.id)}>
              ${contactName(c.contact)} <span class="hint">${c.channel.name}, ${words(c.substatus)}</span></button></li>`,
          )}
        </ul>
        <${WriteFirst} onStarted=${(id) => (setSelected(id), reload())} />
      </section>
      ${selected &&
      html`<${ConversationPanel} id=${selected} summary=${held.find((c) => c.id === selected)} version=${messagesVersion} onChange=${reload} key=${selected} />`}
    </div>`;
}

function StatusControl({ state }) {
  const set = useAction(async (value) => {
    const [status, busyReasonId] = value.split(":");
    await gql(`mutation($s: AgentStatus!, $r: ID) { setMyStatus(status: $s, busyReasonId: $r) { status } }`, {
      s: status,
      r: busyReasonId || null,
    });
    await state.reload();
  });
  if (!state.data) return html`<${ErrorBox} error=${state.error} />`;
  const a = state.data.me.agentState;
  if (!a) return null;
  const value = a.status === "BUSY" ? `BUSY:${a.busyReason ? a.busyReason.id : ""}` : a.status;
  const reasons = state.data.busyReasons.filter((r) => !r.archived);
  const shown = a.status === "BUSY" && a.busyReason ? `Busy: ${a.busyReason.name}` : `${words(a.status)}${a.substatus ? `, ${words(a.substatus).toLowerCase()}` : ""}`;
  return html`<section class="status" aria-labelledby="status-title">
    <h2 id="status-title" class="visually-hidden">My status</h2>
    <p>You are <strong data-testid="my-status">${shown}</strong>, ${a.conversationCount} ${a.conversationCount === 1 ? "conversation" : "conversations"}, ${a.utilization} % used.</p>
    <label>Status
      <select value=${value} disabled=${set.busy} onChange=${(e) => set.run(e.target.value)}>
        ${a.status === "OFFLINE" && html`<option value="OFFLINE" disabled>Offline</option>`}
        <option value="ONLINE">Online</option>
        <option value="BUSY:">Busy</option>
        ${reasons.map((r) => html`<option value=${`BUSY:${r.id}`}>Busy: ${r.name}</option>`)}
      </select>
    </label>
    <${ErrorBox} error=${set.error} />
  </section>`;
}

function OfferCard({ conversation, onDone }) {
  const act = useAction(async (mutation) => {
    await gql(mutation, { id: conversation.id });
    onDone();
  });
  const who = contactName(conversation.contact);
  return html`<section class="offer" aria-label=${`Offer from ${who}`}>
    <h2>New conversation from ${who}</h2>
    <p>${conversation.channel.name} · <${Countdown} deadline=${conversation.offerDeadline} label="Time left to accept" /></p>
    <${ErrorBox} error=${act.error} />
    <div class="toolbar">
      <button type="button" class="primary" disabled=${act.busy} onClick=${() => act.run(`mutation($id: ID!) { acceptConversation(id: $id) { id } }`)}>Accept</button>
      <button type="button" disabled=${act.busy} onClick=${() => act.run(`mutation($id: ID!) { rejectConversation(id: $id) { id } }`)}>Reject</button>
    </div>
  </section>`;
}

const TICKS = {
  QUEUED: ["🕓", "queued"],
  SENT: ["✓", "sent"],
  DELIVERED: ["✓✓", "delivered"],
  READ: ["✓✓", "read"],
  FAILED: ["!", "not delivered"],
};

function Message({ m }) {
  const author = m.direction === "INBOUND" ? "Client" : m.sender ? m.sender.name : m.chatbot ? m.chatbot.name : m.automatic ? "Automatic message" : "Agent";
  const tick = m.deliveryStatus && TICKS[m.deliveryStatus];
  return html`<li class=${`message ${m.direction.toLowerCase()}`}>
    <span class="author">${author}</span>
    <p>${m.text}</p>
    <span class="meta">${time(m.createdAt)}
      ${tick && html` <span class=${`tick ${m.deliveryStatus.toLowerCase()}`} role="img" aria-label=${tick[1]} title=${m.deliveryError || tick[1]}>${tick[0]}</span>`}
      ${m.deliveryError && html` <span class="hint">${m.deliveryError}</span>`}</span>
  </li>`;
}

function ConversationPanel({ id, summary, version, onChange }) {
  const data = useData(() => gql(CONVERSATION, { id }).then((d) => d.conversation), [id]);
  useEffect(() => {
    if (version) data.reload();
  }, [version]);
  const [text, setText] = useState("");
  const [code, setCode] = useState("");
  const act = useAction(async (mutation, variables) => {
    await gql(mutation, { id, ...variables });
    await data.reload();
    onChange();
  });
  const log = useRef(null);
  const count = data.data ? data.data.messages.length : 0;
  useEffect(() => {
    if (log.current) log.current.scrollTop = log.current.scrollHeight;
  }, [count]);
  if (!data.data) return html`<section class="panel"><${ErrorBox} error=${data.error} /></section>`;
  const c = data.data;
  const codes = summary ? summary.channel.wrapUpCodes : [];
  const who = contactName(c.contact);
  const send = (e) => {
    e.preventDefault();
    act.run(`mutation($id: ID!, $text: String!) { sendMessage(conversationId: $id, text: $text) { id } }`, { text }).then(() => setText(""));
  };
  return html`<section class="panel" aria-labelledby="conversation-title">
    <h2 id="conversation-title">Conversation with ${who}</h2>
    <p class="hint">${c.channel.name} · ${words(c.substatus || c.status)}</p>
    <div class="messages" role="log" aria-label="Messages" ref=${log} tabindex="0">
      <ol>${c.messages.map((m) => html`<${Message} m=${m} key=${m.id} />`)}</ol>
    </div>
    <${ErrorBox} error=${act.error} />
    ${(c.substatus === "INTERACTING" || c.substatus === "HOLD") &&
    html`<form class="reply" onSubmit=${send}>
      <label>Reply <textarea rows="2" maxlength="4096" value=${text} onInput=${(e) => setText(e.target.value)}
        onKeyDown=${(e) => e.key === "Enter" && !e.shiftKey && (e.preventDefault(), text.trim() && send(e))}></textarea></label>
      <button type="submit" disabled=${act.busy || !text.trim()}>Send</button>
    </form>
    <div class="toolbar">
      ${c.substatus === "INTERACTING"
        ? html`<button type="button" onClick=${() => act.run(`mutation($id: ID!) { holdConversation(id: $id) { id } }`)}>Hold</button>`
        : html`<button type="button" onClick=${() => act.run(`mutation($id: ID!) { resumeConversation(id: $id) { id } }`)}>Resume</button>`}
      <button type="button" onClick=${() => act.run(`mutation($id: ID!) { resolveConversation(id: $id) { id } }`)}>Resolve</button>
    </div>`}
    ${c.substatus === "AFTER_CALL_WORK" &&
    html`<form class="wrapup" onSubmit=${(e) => (e.preventDefault(), code && act.run(`mutation($id: ID!, $code: ID!) { setWrapUpCode(conversationId: $id, wrapUpCodeId: $code) { id } }`, { code }))}>
      <p>Pick a wrap-up code${c.wrapUpDeadline ? html` · <${Countdown} deadline=${c.wrapUpDeadline} label="Time left to pick a code" />` : ""}</p>
      <label>Wrap-up code
        <select value=${code} onChange=${(e) => setCode(e.target.value)}>
          <option value="">Choose a code</option>
          ${codes.map((w) => html`<option value=${w.id}>${w.name}</option>`)}
        </select>
      </label>
      <button type="submit" disabled=${!code || act.busy}>Save wrap-up code</button>
    </form>`}
  </section>`;
}

function WriteFirst({ onStarted }) {
  const channels = useData(() =>
    gql(`query { channels(first: 100) { nodes { id name canWriteFirst phoneNumbers { id phoneNumber enabled } } } }`).then((d) =>
      d.channels.nodes.filter((c) => c.phoneNumbers.some((n) => n.enabled)),
    ),
  );
  const [form, setForm] = useState({ channelId: "", phoneNumberId: "", to: "", text: "" });
  const start = useAction(async () => {
    const d = await gql(
      `mutation($c: ID!, $n: ID!, $to: String!, $text: String!) { startConversation(channelId: $c, phoneNumberId: $n, to: $to, text: $text) { id } }`,
      { c: form.channelId, n: form.phoneNumberId, to: form.to, text: form.text },
    );
    setForm({ ...form, to: "", text: "" });
    onStarted(d.startConversation.id);
  });
  const list = channels.data || [];
  if (list.length === 0) return null;
  const channel = list.find((c) => c.id === form.channelId);
  return html`<details class="write-first">
    <summary>Write to a client</summary>
    <form onSubmit=${(e) => (e.preventDefault(), start.run())}>
      <label>Channel
        <select required value=${form.channelId} onChange=${(e) => setForm({ ...form, channelId: e.target.value, phoneNumberId: "" })}>
          <option value="">Choose a channel</option>
          ${list.map((c) => html`<option value=${c.id}>${c.name}${c.canWriteFirst ? "" : " (clients who wrote before)"}</option>`)}
        </select>
      </label>
      <label>From number
        <select required value=${form.phoneNumberId} onChange=${(e) => setForm({ ...form, phoneNumberId: e.target.value })}>
          <option value="">Choose a number</option>
          ${(channel ? channel.phoneNumbers.filter((n) => n.enabled) : []).map((n) => html`<option value=${n.id}>${n.phoneNumber}</option>`)}
        </select>
      </label>
      <label>Client number <input required placeholder="+14155550123" value=${form.to} onInput=${(e) => setForm({ ...form, to: e.target.value })} /></label>
      <label>First message <textarea required rows="2" value=${form.text} onInput=${(e) => setForm({ ...form, text: e.target.value })}></textarea></label>
      <${ErrorBox} error=${start.error} />
      <button type="submit" disabled=${start.busy}>Start conversation</button>
    </form>
  </details>`;
}
