// The supervisor's wallboard: a channel's live figures (queueStatsChanged), its queue with waiting times and
// assignment by hand, the conversations people hold (transfer, requeue), and the agents with their status,
// time in status and load; everything follows the channel's events live.
import { useEffect, useState } from "preact/hooks";
import { ErrorBox, Since, duration, gql, html, useAction, useData, useDebounced, useLive, words } from "./ui.js";

const STATS = `subscription($channelId: ID) { queueStatsChanged(channelId: $channelId) { kind at stats {
  channelId waiting alerting longestWaitingSince agentsOnline agentsAvailable interacting onHold afterCallWork
  offered answered abandoned averageSpeedOfAnswer averageHandleTime serviceLevel { value numerator denominator } } } }`;

export function SupervisorPage() {
  const channels = useData(() => gql(`query { channels(first: 100) { nodes { id name } } }`).then((d) => d.channels.nodes));
  const [channelId, setChannelId] = useState("");
  useEffect(() => {
    if (!channelId && channels.data && channels.data.length) setChannelId(channels.data[0].id);
  }, [channels.data]);
  if (!channels.data) return html`<h1>Supervisor</h1><${ErrorBox} error=${channels.error} />`;
  if (channels.data.length === 0) return html`<h1>Supervisor</h1><p>No channels yet.</p>`;
  return html`<h1>Supervisor</h1>
    <label>Channel
      <select value=${channelId} onChange=${(e) => setChannelId(e.target.value)}>
        ${channels.data.map((c) => html`<option value=${c.id}>${c.name}</option>`)}
      </select>
    </label>
    ${channelId && html`<${ChannelBoard} channelId=${channelId} key=${channelId} />`}`;
}

function ChannelBoard({ channelId }) {
  const board = useData(
    () =>
      gql(
        `query($c: ID!) {
          queue(channelId: $c, first: 100) { totalCount nodes { id enqueuedAt substatus contact { phoneNumber displayName } assignedAgent { name } offerDeadline } }
          conversations(channelId: $c, status: OPEN, first: 100) { nodes { id substatus enqueuedAt contact { phoneNumber displayName } assignedAgent { id name } } }
          agentStats(channelId: $c) { agentId agent { name } status substatus busyReasonId since utilization conversationsHeld answered rejected timedOut averageHandleTime }
          busyReasons { id name }
        }`,
        { c: channelId },
      ),
    [channelId],
  );
  const reload = useDebounced(board.reload, 150);
  const live = useLive(
    `subscription($channelId: ID, $after: String) { channelEvents(channelId: $channelId, after: $after) { cursor kind } }`,
    { channelId },
    "channelEvents",
    () => reload(),
    [channelId],
  );
  const [stats, setStats] = useState(null);
  useLive(STATS, { channelId }, "queueStatsChanged", (u) => u.kind === "SNAPSHOT" && setStats(u.stats[0] || null), [channelId]);
  useEffect(() => {
    if (live === "live") reload();
  }, [live]);
  const [pick, setPick] = useState({});
  const act = useAction(async (mutation, variables) => {
    await gql(mutation, variables);
    await board.reload();
  });
  if (!board.data) return html`<${ErrorBox} error=${board.error} />`;
  const d = board.data;
  const reasons = Object.fromEntries(d.busyReasons.map((r) => [r.id, r.name]));
  const reachable = d.agentStats.filter((a) => a.status !== "OFFLINE");
  const chooser = (c, verb) => html`<label class="visually-hidden" for=${`pick-${c.id}`}>${verb} conversation with ${c.contact.phoneNumber} to</label>
    <select id=${`pick-${c.id}`} value=${pick[c.id] || ""} onChange=${(e) => setPick({ ...pick, [c.id]: e.target.value })}>
      <option value="">Choose a person</option>
      ${reachable.map((a) => html`<option value=${a.agentId}>${a.agent.name}</option>`)}
    </select>`;
  // Ringing conversations still wait for an answer: they show in the queue, with whom they ring for.
  const ringing = d.conversations.nodes.filter((c) => c.substatus === "ALERTING");
  const waiting = [...ringing, ...d.queue.nodes];
  const held = d.conversations.nodes.filter((c) => c.assignedAgent && c.substatus !== "IN_QUEUE" && c.substatus !== "ALERTING");
  return html`${live === "reconnecting" && html`<div class="banner" role="status">Connection lost: reconnecting… Missed events will be replayed.</div>`}
    <${Figures} stats=${stats} />
    <${ErrorBox} error=${act.error} />
    <section aria-labelledby="queue-title">
      <h2 id="queue-title">Queue (${d.queue.totalCount} waiting${ringing.length ? `, ${ringing.length} ringing` : ""})</h2>
      ${waiting.length === 0
        ? html`<p>Nobody is waiting.</p>`
        : html`<table aria-labelledby="queue-title">
            <thead><tr><th scope="col">Client</th><th scope="col">Waiting</th><th scope="col">State</th><th scope="col">Assign</th></tr></thead>
            <tbody>
              ${waiting.map(
                (c) => html`<tr>
                  <td>${c.contact.displayName || c.contact.phoneNumber}</td>
                  <td><${Since} at=${c.enqueuedAt} /></td>
                  <td>${c.substatus === "ALERTING" ? `Ringing for ${c.assignedAgent ? c.assignedAgent.name : "an agent"}` : "In queue"}</td>
                  <td class="actions">${chooser(c, "Assign")}
                    <button type="button" aria-label=${`Assign ${c.contact.phoneNumber}`} disabled=${!pick[c.id]}
                      onClick=${() => act.run(`mutation($id: ID!, $u: ID!) { assignConversation(id: $id, userId: $u) { id } }`, { id: c.id, u: pick[c.id] })}>Assign</button></td>
                </tr>`,
              )}
            </tbody>
          </table>`}
    </section>
    <section aria-labelledby="held-title">
      <h2 id="held-title">Conversations in progress</h2>
      ${held.length === 0
        ? html`<p>None.</p>`
        : html`<table aria-labelledby="held-title">
            <thead><tr><th scope="col">Client</th><th scope="col">Agent</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              ${held.map(
                (c) => html`<tr>
                  <td>${c.contact.displayName || c.contact.phoneNumber}</td>
                  <td>${c.assignedAgent.name}</td>
                  <td>${words(c.substatus)}</td>
                  <td class="actions">
                    ${c.substatus !== "AFTER_CALL_WORK" &&
                    html`${chooser(c, "Transfer")}
                      <button type="button" aria-label=${`Transfer ${c.contact.phoneNumber}`} disabled=${!pick[c.id]}
                        onClick=${() => act.run(`mutation($id: ID!, $u: ID!) { transferConversation(id: $id, userId: $u) { id } }`, { id: c.id, u: pick[c.id] })}>Transfer</button>
                      <button type="button" aria-label=${`Requeue ${c.contact.phoneNumber}`}
                        onClick=${() => act.run(`mutation($id: ID!) { requeueConversation(id: $id) { id } }`, { id: c.id })}>Requeue</button>`}
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>`}
    </section>
    <section aria-labelledby="agents-title">
      <h2 id="agents-title">Agents</h2>
      <table aria-labelledby="agents-title">
        <thead><tr><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">In status for</th><th scope="col">Load</th><th scope="col">Today</th></tr></thead>
        <tbody>
          ${d.agentStats.map(
            (a) => html`<tr>
              <td>${a.agent.name}</td>
              <td>${words(a.status)}${a.substatus ? ` (${a.substatus === "BUSY_REASON" ? reasons[a.busyReasonId] || "busy reason" : words(a.substatus).toLowerCase()})` : ""}</td>
              <td><${Since} at=${a.since} /></td>
              <td>${a.utilization} %, ${a.conversationsHeld} ${a.conversationsHeld === 1 ? "conversation" : "conversations"}</td>
              <td>${a.answered} answered, ${a.rejected} rejected, ${a.timedOut} timed out${a.averageHandleTime !== null ? `, handle ${duration(a.averageHandleTime)}` : ""}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>`;
}

function Figures({ stats }) {
  if (!stats) return html`<p role="status">Loading figures…</p>`;
  const sl = stats.serviceLevel;
  const figure = (label, value) => html`<div class="figure"><dt>${label}</dt><dd>${value}</dd></div>`;
  return html`<section aria-labelledby="figures-title">
    <h2 id="figures-title">Now and today</h2>
    <dl class="figures">
      ${figure("Waiting", stats.waiting)}
      ${figure("Ringing", stats.alerting)}
      ${figure("Longest wait", stats.longestWaitingSince ? html`<${Since} at=${stats.longestWaitingSince} />` : "—")}
      ${figure("Agents online", `${stats.agentsOnline} (${stats.agentsAvailable} available)`)}
      ${figure("Interacting", stats.interacting)}
      ${figure("On hold", stats.onHold)}
      ${figure("After-call work", stats.afterCallWork)}
      ${figure("Offered today", stats.offered)}
      ${figure("Answered today", stats.answered)}
      ${figure("Abandoned today", stats.abandoned)}
      ${figure("Service level", sl.value === null ? "—" : `${Math.round(sl.value * 100)} % (${sl.numerator}/${sl.denominator})`)}
      ${figure("Average speed of answer", duration(stats.averageSpeedOfAnswer))}
      ${figure("Average handle time", duration(stats.averageHandleTime))}
    </dl>
  </section>`;
}
